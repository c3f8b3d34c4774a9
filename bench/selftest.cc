#include "bench/selftest.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <thread>

#include "bench/fake_runner.h"
#include "client/lb_client.h"
#include "client/placement.h"

namespace fnr::bench {
namespace {

using client::CallOptions;
using client::CallOutcome;
using client::LbClient;
using client::LbMode;
using namespace std::chrono_literals;

std::string call_json(const std::string& id, const std::string& image, int timeout_s = 5) {
  return R"({"id":")" + id + R"(","image":")" + image +
         R"(","type":"sync","format":"default","timeout":)" + std::to_string(timeout_s) +
         R"(,"idle_timeout":30,"memory":128,"config":{},"headers":{}})";
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

std::string summary(const CallOutcome& o) {
  std::ostringstream s;
  s << "first=" << o.first_message << " acked=" << o.acked << " committed=" << o.committed
    << " finished=" << o.finished << " success=" << o.success << " details='" << o.details
    << "' grpc=" << o.grpc_code << " '" << o.grpc_message << "' status=" << o.status_code
    << " body=" << o.body_bytes << "B verdict=" << o.verdict.http_status << " '"
    << o.verdict.http_message << "' next=" << o.verdict.try_next_runner
    << " cancelled=" << o.cancelled_by_us << " protocol_error='" << o.protocol_error << "'";
  return s.str();
}

class SelfTest {
 public:
  explicit SelfTest(std::string address) : address_(std::move(address)) {}

  std::unique_ptr<LbClient> client(LbMode mode, bool stale = false) {
    std::string error;
    auto c =
        LbClient::create({.target = address_, .mode = mode, .april_stale_frames = stale}, &error);
    if (!c) std::fprintf(stderr, "selftest: %s\n", error.c_str());
    return c;
  }

  void check(const std::string& name, bool ok, const std::string& detail) {
    std::printf("selftest: %-44s %s\n", name.c_str(), ok ? "ok" : "FAIL");
    if (!ok) {
      std::printf("  %s\n", detail.c_str());
      ++failures_;
    }
    ++checks_;
  }
  void check(const std::string& name, bool ok, const CallOutcome& o) {
    check(name, ok, summary(o));
  }

  std::string next_id() { return "selftest-" + std::to_string(++seq_); }

  int finish() {
    std::printf("selftest_checks: %d\nselftest_failures: %d\n", checks_, failures_);
    return failures_ == 0 ? 0 : 1;
  }

 private:
  std::string address_;
  int checks_ = 0;
  int failures_ = 0;
  int seq_ = 0;
};

void echo_checks(SelfTest& t, LbClient& lb, const std::string& mode) {
  {
    const std::string id = t.next_id();
    const CallOutcome o = lb.engage(call_json(id, "echo"), "hello");
    t.check(mode + " echo small",
            o.success && o.body == "hello" && o.verdict.http_status == 200 && o.ack_details == id &&
                o.protocol_error.empty() && o.details == id,
            o);
  }
  {
    const CallOutcome o = lb.engage(call_json(t.next_id(), "echo"), "");
    t.check(mode + " echo empty body", o.success && o.body.empty() && o.saw_eof, o);
  }
  {
    const std::string big = pattern(1 << 20);
    const CallOutcome o = lb.engage(call_json(t.next_id(), "echo"), big);
    t.check(mode + " echo 1 MiB (writer thread)", o.success && o.body == big, o);
  }
  {
    const std::string body = pattern(300'000);
    int fds[2];
    if (::pipe(fds) != 0) return;
    std::thread producer([&] {
      // Uneven pieces with pauses: the runner must see them as they come.
      for (size_t off = 0; off < body.size();) {
        const size_t n = std::min<size_t>(70'001, body.size() - off);
        if (::write(fds[1], body.data() + off, n) != static_cast<ssize_t>(n)) break;
        off += n;
        std::this_thread::sleep_for(5ms);
      }
      ::close(fds[1]);
    });
    const CallOutcome o =
        lb.engage(call_json(t.next_id(), "echo"), client::BodySource::from_fd(fds[0]));
    producer.join();
    ::close(fds[0]);
    t.check(mode + " echo from a pipe fd", o.success && o.body == body, o);
  }
  {
    const std::string body = pattern(50'000);
    std::istringstream in(body);
    const CallOutcome o =
        lb.engage(call_json(t.next_id(), "echo"), client::BodySource::from_stream(in));
    t.check(mode + " echo from an istream", o.success && o.body == body, o);
  }
  {
    const CallOutcome o = lb.engage(call_json(t.next_id(), "fake/nack"), "x");
    t.check(mode + " NACK is try-next-runner",
            o.nacked && o.grpc_code == 503 && o.verdict.try_next_runner && o.protocol_error.empty(),
            o);
  }
  {
    const CallOutcome o = lb.engage(call_json(t.next_id(), "fake/abort"), "x");
    t.check(mode + " abort after ack is 500",
            !o.success && o.verdict.http_status == 500 && !o.verdict.try_next_runner, o);
  }
  {
    const CallOutcome o = lb.engage(call_json(t.next_id(), "fake/late-error"), "x");
    t.check(mode + " error status after finished is 500",
            !o.success && o.verdict.http_status == 500 && !o.protocol_error.empty(), o);
  }
  {
    CallOptions opts;
    opts.cancel_after_response_bytes = 5;
    const CallOutcome o = lb.engage(call_json(t.next_id(), "fake/slow"), "x", opts);
    t.check(
        mode + " cancel after 5 response bytes",
        o.cancelled_by_us && o.grpc_code == 1 && o.body_bytes >= 5 && o.verdict.http_status == 499,
        o);
  }
  {
    client::CallCanceller canceller;
    CallOptions opts;
    opts.canceller = &canceller;
    std::thread killer([&] {
      std::this_thread::sleep_for(50ms);
      canceller.cancel();
    });
    const CallOutcome o = lb.engage(call_json(t.next_id(), "fake/slow"), "x", opts);
    killer.join();
    t.check(mode + " cancel from another thread",
            o.cancelled_by_us && o.grpc_code == 1 && o.latency >= 40ms, o);
  }
  {
    CallOptions opts;
    opts.cancel_after_request_bytes = 100'000;
    const std::string big = pattern(1 << 20);
    const CallOutcome o = lb.engage(call_json(t.next_id(), "echo"), big, opts);
    t.check(mode + " cancel after 100 kB of request",
            o.cancelled_by_us && o.request_bytes_sent >= 100'000 &&
                o.request_bytes_sent < big.size() && !o.request_eof_sent,
            o);
  }
  {
    CallOptions opts;
    opts.deadline = 200ms;
    const CallOutcome o = lb.engage(call_json(t.next_id(), "fake/slow"), "x", opts);
    t.check(mode + " deadline ends a silent call", o.grpc_code == 4 && !o.cancelled_by_us, o);
  }
}

}  // namespace

int run_selftest() {
  std::string error;
  const std::unique_ptr<FakeRunner> fake = FakeRunner::start(&error);
  if (!fake) {
    std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
    return 1;
  }
  SelfTest t(fake->address());
  const auto april = t.client(LbMode::kApril);
  const auto may = t.client(LbMode::kMay);
  const auto stale = t.client(LbMode::kApril, /*stale=*/true);
  if (!april || !may || !stale) return 1;

  echo_checks(t, *april, "april");
  echo_checks(t, *may, "may");

  // Where the two LBs part ways.
  {
    const CallOutcome a = april->engage(call_json(t.next_id(), "fake/created"), "x");
    const CallOutcome m = may->engage(call_json(t.next_id(), "fake/created"), "x");
    t.check("april hides the status code (200)", a.success && a.verdict.http_status == 200, a);
    t.check("may passes the status code (201)", m.success && m.verdict.http_status == 201, m);
  }
  {
    const CallOutcome a = april->engage(call_json(t.next_id(), "fake/busy"), "x");
    const CallOutcome m = may->engage(call_json(t.next_id(), "fake/busy"), "x");
    t.check("april ignores finished 503:... (200)",
            !a.success && a.verdict.http_status == 200 && !a.verdict.try_next_runner, a);
    t.check("may retries on finished 503:...", m.verdict.try_next_runner, m);
  }
  {
    const CallOutcome a = april->engage(call_json(t.next_id(), "fake/timeout"), "x");
    const CallOutcome m = may->engage(call_json(t.next_id(), "fake/timeout"), "x");
    t.check("april ignores finished 504:... (200)", a.verdict.http_status == 200, a);
    t.check("may answers finished 504:Timed out",
            m.verdict.http_status == 504 && m.verdict.http_message == "Timed out", m);
  }
  {
    const CallOutcome a = april->engage(call_json(t.next_id(), "fake/grpc-busy"), "x");
    const CallOutcome m = may->engage(call_json(t.next_id(), "fake/grpc-busy"), "x");
    t.check("april: gRPC 503 after a commit is 500",
            a.verdict.http_status == 500 && !a.verdict.try_next_runner, a);
    t.check("may retries on gRPC 503 after ack", m.verdict.try_next_runner, m);
  }
  {
    const CallOutcome a = april->engage(call_json(t.next_id(), "fake/no-ack"), "x");
    const CallOutcome m = may->engage(call_json(t.next_id(), "fake/no-ack"), "x");
    t.check("april: no ack first is an empty 200",
            a.verdict.http_status == 200 && a.body.empty() && !a.protocol_error.empty() &&
                !a.cancelled_by_us,
            a);
    t.check("may: no ack first is served, flagged",
            m.success && m.body == "hi" && !m.protocol_error.empty(), m);
  }
  {
    // Go's reused read buffer: 25000 bytes go as 10240, 10240, 4520+stale,
    // then a whole stale buffer with eof.
    const std::string body = pattern(25'000);
    const CallOutcome o = stale->engage(call_json(t.next_id(), "echo"), body);
    t.check("april stale frames are whole 10 KiB buffers",
            o.success && o.body.size() == size_t{4} * 10240 &&
                o.body.compare(0, 20480, body, 0, 20480) == 0,
            o);
  }
  {
    LbClient* runners[] = {april.get(), april.get()};
    const client::Placement p = client::place(runners, call_json(t.next_id(), "fake/nack", 1), "x");
    t.check(
        "april placement gives up at half the timeout",
        p.verdict.http_status == 503 && p.elapsed >= 450ms && p.elapsed < 900ms && p.attempts > 10,
        "attempts=" + std::to_string(p.attempts) +
            " elapsed_us=" + std::to_string(p.elapsed.count()) + " " + summary(p.last));
  }
  {
    LbClient* runners[] = {may.get()};
    const client::Placement p = client::place(runners, call_json(t.next_id(), "fake/nack", 1), "x");
    t.check("may placement retries for the whole timeout",
            p.verdict.http_status == 503 && p.elapsed >= 950ms,
            "attempts=" + std::to_string(p.attempts) +
                " elapsed_us=" + std::to_string(p.elapsed.count()));
  }
  {
    LbClient* runners[] = {may.get()};
    const client::Placement p = client::place(runners, call_json(t.next_id(), "echo"), "ok");
    t.check("placement stops at the first taker",
            p.attempts == 1 && p.last.success && p.verdict.http_status == 200, summary(p.last));
  }
  {
    // Port 1 on loopback: nothing listens, the connection is refused.
    for (LbMode mode : {LbMode::kApril, LbMode::kMay}) {
      const auto nowhere = LbClient::create({.target = "127.0.0.1:1", .mode = mode}, &error);
      const CallOutcome o = nowhere->engage(call_json(t.next_id(), "echo"), "x");
      t.check(std::string(client::lb_mode_name(mode)) + ": no connection is try-next-runner",
              o.verdict.try_next_runner && o.grpc_code == 14, o);
    }
  }
  {
    // The server runs OnDone just after the client sees the status: allow it a moment.
    client::RunnerStatusReply st = may->status();
    for (int i = 0; i < 100 && st.ok && st.active != 0; ++i) {
      std::this_thread::sleep_for(10ms);
      st = may->status();
    }
    t.check("Status RPC", st.ok && st.requests_received > 0 && st.active == 0,
            "grpc=" + std::to_string(st.grpc_code) + " active=" + std::to_string(st.active) +
                " received=" + std::to_string(st.requests_received));
  }
  return t.finish();
}

}  // namespace fnr::bench
