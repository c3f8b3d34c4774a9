#include "tests/e2e/runner_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/empty.pb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "shared/image_store.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/oci_builder.h"

namespace fnr::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string bin(const char* name) { return std::string(FNR_BIN_DIR) + "/" + name; }

// A port nobody listens on right now: bind to port 0, read it, close.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

RunnerHarness::RunnerHarness(RunnerOptions options) : options_(std::move(options)) {
  std::string tmpl = (fs::temp_directory_path() / "fnr-e2e-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  temp_dir_ = tmpl;
  images_dir_ = temp_dir_ + "/images";  // the image store creates it
  static std::atomic<int> counter{0};
  ledger_name_ = "fnr-e2e-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  add_image(kTestImage);
}

RunnerHarness::~RunnerHarness() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
  }
  // A runner that was killed or failed cannot remove its shared memory
  // itself; the name is this harness's alone.
  ledger_.reset();
  if (!ledger_name_.empty()) Ledger::remove(ledger_name_);
  status_client_.reset();
  // FNR_E2E_KEEP_TMP=1 keeps the temp dir (runner.log, images, certs).
  const char* keep = std::getenv("FNR_E2E_KEEP_TMP");
  if (keep != nullptr && std::string(keep) == "1") {
    std::cerr << "fnr-e2e: kept " << temp_dir_ << "\n";
  } else if (!temp_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(temp_dir_, ec);
  }
}

// fn-test-func as a user would ship it: an OCI image layout (busybox and
// the static binary, entrypoint /function/fn-test-func), built once per test
// process and imported into each runner's image store with the store's own
// import.
class TestFuncLayout {
 public:
  TestFuncLayout() {
    using test_support::Layer;
    using test_support::LayerEntry;
    dir_ = test_support::make_temp_dir("fnr-e2e-layout");
    test_support::ImageSpec spec;
    // Uncompressed: every runner imports it, and gzip would dominate.
    spec.layers.push_back(test_support::busybox_layer());
    spec.layers.back().compression = test_support::Compression::kNone;
    Layer fn;
    fn.compression = test_support::Compression::kNone;
    fn.entries.push_back(LayerEntry::dir("function"));
    LayerEntry binary = LayerEntry::host_file("function/fn-test-func", bin("fn-test-func"));
    binary.mode = 0755;
    fn.entries.push_back(binary);
    spec.layers.push_back(fn);
    spec.entrypoint = {"/function/fn-test-func"};
    spec.env = {"PATH=/bin"};
    spec.working_dir = "/function";
    test_support::OciLayoutBuilder(dir_).add(spec);
  }
  ~TestFuncLayout() { test_support::remove_all(dir_); }
  TestFuncLayout(const TestFuncLayout&) = delete;
  TestFuncLayout& operator=(const TestFuncLayout&) = delete;
  [[nodiscard]] const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

void RunnerHarness::add_image(const std::string& ref) const {
  static const TestFuncLayout layout;
  try {
    ImageStore(images_dir_).import(layout.dir(), ref);
  } catch (const std::exception& ex) {
    ADD_FAILURE() << "importing " << ref << ": " << ex.what();
  }
}

::testing::AssertionResult RunnerHarness::start() {
  if (temp_dir_.empty()) return ::testing::AssertionFailure() << "no temp dir";
  // Another process may take the free port between our probe and the
  // runner's bind: then the runner says so and exits, and we try another.
  std::string failures;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = free_port();
    if (port == 0) return ::testing::AssertionFailure() << "no free port";
    ::testing::AssertionResult r = spawn_once(port);
    if (r) r = wait_ready();
    if (r) {
      std::string error;
      ledger_ = Ledger::open(ledger_name_, &error);
      if (!ledger_) return ::testing::AssertionFailure() << "ledger: " << error;
      return r;
    }
    failures += std::string(r.message()) + "\n";
    if (log().find("cannot listen") == std::string::npos) break;
  }
  return ::testing::AssertionFailure() << failures << "runner log:\n" << log();
}

::testing::AssertionResult RunnerHarness::spawn_once(int port) {
  target_ = "127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = {
      bin("fn-runner"),
      "--grpc-address=" + target_,
      "--images-dir=" + images_dir_,
      "--ledger-name=" + ledger_name_,
      "--drain-timeout=" + std::to_string(options_.drain_timeout_s),
  };
  if (!options_.log_level.empty()) args.push_back("--log-level=" + options_.log_level);
  if (options_.max_total_memory_bytes) {
    args.push_back("--max-total-memory-bytes=" + std::to_string(*options_.max_total_memory_bytes));
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  // A clean environment: nothing of ours (FN_*, FN_RUNNER_CONFIG) leaks in.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"};
  if (options_.tls) {
    env.push_back("FN_NODE_CERT=" + options_.tls->server_cert);
    env.push_back("FN_NODE_CERT_KEY=" + options_.tls->server_key);
    env.push_back("FN_NODE_CERT_AUTHORITY=" + options_.tls->ca_cert);
  }
  env.insert(env.end(), options_.extra_env.begin(), options_.extra_env.end());
  std::vector<char*> argv = c_strings(args);
  std::vector<char*> envp = c_strings(env);

  UniqueFd log_fd(::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log_fd || !null_fd) return ::testing::AssertionFailure() << "open log: " << strerror(errno);
  const pid_t parent = getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork: " << strerror(errno);
  if (pid == 0) {
    // Async-signal-safe calls only: the test process has gRPC threads.
    // The runner dies with the test (whose main thread forked it).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(log_fd.get(), 1) < 0 ||
        ::dup2(log_fd.get(), 2) < 0) {
      ::_exit(126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pid_ = pid;
  watch_ = std::make_unique<PidWatch>(pid);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult RunnerHarness::wait_ready() {
  // Reconnect quickly (gRPC's default first backoff is a whole second), and
  // let each Status wait for the connection: the runner answering is the
  // condition, bounded by the overall deadline and by the runner's death.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 10);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 10);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 50);
  auto stub = RunnerProtocol::NewStub(channel(args));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (watch_->exited()) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = 0;
      return ::testing::AssertionFailure()
             << "fn-runner exited during startup (wait status " << status << ")";
    }
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(200));
    google::protobuf::Empty req;
    RunnerStatus reply;
    if (stub->Status(&ctx, req, &reply).ok()) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "fn-runner did not answer Status within 15 s";
}

std::optional<int> RunnerHarness::wait_exit(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  if (!watch_->wait_exit(timeout)) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  pid_ = 0;
  return status;
}

std::optional<int> RunnerHarness::stop(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  // An idle sync-API gRPC client reads its connection only every 5 s (the
  // backup poller), so it would ack the runner's shutdown GOAWAY ping late
  // and stretch the drain by that much. Ours goes away first.
  status_client_.reset();
  signal(SIGTERM);
  return wait_exit(timeout);
}

void RunnerHarness::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::string RunnerHarness::log() const { return read_file(log_path()); }

bool RunnerHarness::wait_for_log(const std::string& needle, milliseconds timeout) const {
  return wait_until([&] { return log().find(needle) != std::string::npos; }, timeout);
}

std::optional<client::TlsFiles> RunnerHarness::client_tls() const {
  if (!options_.tls) return std::nullopt;
  return client::TlsFiles{.ca = options_.tls->ca_cert,
                          .cert = options_.tls->client_cert,
                          .key = options_.tls->client_key,
                          .server_name = ""};
}

std::unique_ptr<client::LbClient> RunnerHarness::lb(client::LbMode mode) const {
  client::LbOptions o;
  o.mode = mode;
  o.tls = client_tls();
  return lb(std::move(o));
}

std::unique_ptr<client::LbClient> RunnerHarness::lb(client::LbOptions options) const {
  options.target = target_;
  std::string error;
  auto c = client::LbClient::create(std::move(options), &error);
  if (!c) ADD_FAILURE() << "LbClient::create: " << error;
  return c;
}

client::CallOutcome RunnerHarness::late_echo_call(client::LbMode mode,
                                                  const std::string& body) const {
  client::LbOptions o;
  o.mode = mode;
  o.deadline = std::chrono::seconds(5);
  TestCall call;
  call.mode("echo");
  return lb(std::move(o))->engage(call.json(), body);
}

std::shared_ptr<grpc::Channel> RunnerHarness::channel(grpc::ChannelArguments args) const {
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (options_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read_file(options_.tls->ca_cert);
    ssl.pem_cert_chain = read_file(options_.tls->client_cert);
    ssl.pem_private_key = read_file(options_.tls->client_key);
    creds = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(target_, creds, args);
}

std::unique_ptr<RunnerProtocol::Stub> RunnerHarness::stub() const {
  return RunnerProtocol::NewStub(channel());
}

client::RunnerStatusReply RunnerHarness::status() const {
  if (!status_client_) status_client_ = lb();
  if (!status_client_) return {};
  return status_client_->status();
}

LedgerSnapshot RunnerHarness::ledger() const {
  if (!ledger_) {
    ADD_FAILURE() << "ledger not open (runner not started?)";
    return {};
  }
  return ledger_->snapshot();
}

std::optional<ReservationView> RunnerHarness::reservation(const std::string& call_id) const {
  for (const ReservationView& e : ledger().entries) {
    if (e.call_id == call_id) return e;
  }
  return std::nullopt;
}

pid_t RunnerHarness::wait_for_worker(const std::string& call_id, milliseconds timeout) const {
  pid_t worker = 0;
  wait_until(
      [&] {
        auto r = reservation(call_id);
        if (r && r->state == ReservationState::kRunning && r->owner_pid > 0 &&
            r->owner_pid != pid_) {
          worker = r->owner_pid;
        }
        return worker != 0;
      },
      timeout);
  return worker;
}

pid_t RunnerHarness::worker_of_acked_call(const std::string& call_id, milliseconds timeout) const {
  pid_t worker = 0;
  wait_until(
      [&] {
        auto r = reservation(call_id);
        if (!r) return true;
        if (r->state == ReservationState::kRunning && r->owner_pid > 0 && r->owner_pid != pid_) {
          worker = r->owner_pid;
        }
        return worker != 0;
      },
      timeout);
  return worker;
}

pid_t RunnerHarness::wait_for_function(pid_t worker, milliseconds timeout) {
  pid_t fn = 0;
  wait_until(
      [&] {
        auto kids = children_of(worker);
        if (!kids.empty()) fn = kids.front();
        return fn != 0;
      },
      timeout);
  return fn;
}

bool RunnerHarness::wait_ledger_empty(milliseconds timeout) const {
  if (wait_until([&] { return ledger().reserved_mib == 0 && ledger().entries.empty(); }, timeout)) {
    return true;
  }
  const LedgerSnapshot s = ledger();
  std::ostringstream leftovers;
  for (const auto& e : s.entries) {
    leftovers << " [" << e.call_id << " " << e.mib << " MiB " << reservation_state_name(e.state)
              << " pid " << e.owner_pid << "]";
  }
  ADD_FAILURE() << "ledger still holds " << s.reserved_mib << " MiB:" << leftovers.str();
  return false;
}

::testing::AssertionResult exited_cleanly(const std::optional<int>& wait_status) {
  if (!wait_status) return ::testing::AssertionFailure() << "fn-runner did not exit in time";
  if (WIFEXITED(*wait_status) && WEXITSTATUS(*wait_status) == 0) {
    return ::testing::AssertionSuccess();
  }
  if (WIFSIGNALED(*wait_status)) {
    return ::testing::AssertionFailure() << "fn-runner killed by signal " << WTERMSIG(*wait_status);
  }
  return ::testing::AssertionFailure() << "fn-runner exited with " << WEXITSTATUS(*wait_status);
}

void RunnerTest::SetUp() {
  runner_ = std::make_unique<RunnerHarness>(runner_options());
  ASSERT_TRUE(runner_->start());
}

void RunnerTest::TearDown() {
  if (!runner_) return;
  if (runner_->running()) {
    EXPECT_TRUE(exited_cleanly(runner_->stop()));
  }
  if (HasFailure()) {
    // The runner's side of the story, for whoever reads the failure.
    const std::string log = runner_->log();
    constexpr size_t kTail = 8000;
    std::cerr << "---- fn-runner log (" << runner_->log_path() << ", last " << kTail
              << " bytes) ----\n"
              << (log.size() > kTail ? log.substr(log.size() - kTail) : log) << "----\n";
  }
  runner_.reset();
}

}  // namespace fnr::e2e
