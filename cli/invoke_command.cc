// `fn-runnerctl invoke`: one call through a runner, streamed both ways, with
// the April or May 2018 LB's protocol and its reading of the outcome.
#include <getopt.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "cli/call_json.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "client/lb_client.h"

namespace fnr::cli {
namespace {

constexpr std::string_view kHelp =
    R"(usage: fn-runnerctl invoke --addr HOST:PORT --image IMG [options] < body

Sends one call to the runner the way an Fn 2018 LB would, streaming the
request body from stdin, and prints "status: N", the response headers, a
blank line, the body as it arrives, then "finished: success" or
"finished: <code>:<message>" and what the LB would have answered its user.
Exit status: 0 the call succeeded, 1 it failed or was NACKed, 2 usage error.

  --addr HOST:PORT       the runner's gRPC address (required)
  --image IMG            function image (required unless --call-json)
  --memory MIB           memory to reserve (default 128)
  --timeout S            call timeout, also the stream deadline (default 30)
  --idle-timeout S       hot container idle timeout (default 30)
  --format F             default | http | json | http-stream (default "default")
  --config K=V           function config / environment (repeatable)
  --header K:V           request header (repeatable; repeats add values)
  --id ID                call id (default: a fresh ULID)
  --app NAME --path P    app and route, part of the hot-container key
  --method M --url U     the original HTTP request line (default POST)
  --lb april|may         which 2018 LB to behave as (default may)
  --april-stale-frames   with --lb april: send whole 10 KiB frames, stale
                         bytes included, as the real April LB did
  --chunk N              request frame size in bytes (default 10240)
  --data STRING          use STRING as the body instead of stdin
  --call-json FILE       send this call JSON verbatim (a captured fixture)
)";

struct InvokeFlags {
  std::string addr;
  CallSpec spec;
  client::LbMode mode = client::LbMode::kMay;
  bool stale_frames = false;
  size_t chunk = 10240;
  std::optional<std::string> data;
  std::string call_json_file;
  TlsFlags tls;
};

bool split_pair(std::string_view flag, std::string_view text, char sep,
                std::vector<std::pair<std::string, std::string>>* out) {
  const size_t at = text.find(sep);
  if (at == std::string_view::npos || at == 0) {
    std::fprintf(stderr, "fn-runnerctl: --%.*s wants KEY%cVALUE, got '%.*s'\n",
                 static_cast<int>(flag.size()), flag.data(), sep, static_cast<int>(text.size()),
                 text.data());
    return false;
  }
  std::string_view value = text.substr(at + 1);
  // "K: V" is how headers are usually written; the space is not the value.
  if (sep == ':') {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  out->emplace_back(std::string(text.substr(0, at)), std::string(value));
  return true;
}

// Parses argv into `f`; an exit code when there is nothing more to do.
std::optional<int> parse_flags(int argc, char** argv, InvokeFlags* f) {
  static const std::vector<option> kOptions = long_options(
      {
          {"addr", required_argument, nullptr, 0},
          {"image", required_argument, nullptr, 0},
          {"memory", required_argument, nullptr, 0},
          {"timeout", required_argument, nullptr, 0},
          {"idle-timeout", required_argument, nullptr, 0},
          {"format", required_argument, nullptr, 0},
          {"config", required_argument, nullptr, 0},
          {"header", required_argument, nullptr, 0},
          {"id", required_argument, nullptr, 0},
          {"app", required_argument, nullptr, 0},
          {"path", required_argument, nullptr, 0},
          {"method", required_argument, nullptr, 0},
          {"url", required_argument, nullptr, 0},
          {"lb", required_argument, nullptr, 0},
          {"april-stale-frames", no_argument, nullptr, 0},
          {"chunk", required_argument, nullptr, 0},
          {"data", required_argument, nullptr, 0},
          {"call-json", required_argument, nullptr, 0},
      },
      kTlsOptions);
  const auto parsed = parse_long_options(
      argc, argv, kOptions, kHelp, kTlsHelp, [f](std::string_view name, const char* v) {
        bool ok = true;
        if (name == "addr") {
          f->addr = v;
        } else if (name == "image") {
          f->spec.image = v;
        } else if (name == "memory") {
          ok = parse_number(name, v, &f->spec.memory_mib);
        } else if (name == "timeout") {
          ok = parse_number(name, v, &f->spec.timeout_s);
        } else if (name == "idle-timeout") {
          ok = parse_number(name, v, &f->spec.idle_timeout_s);
        } else if (name == "format") {
          f->spec.format = v;
        } else if (name == "config") {
          ok = split_pair(name, v, '=', &f->spec.config);
        } else if (name == "header") {
          ok = split_pair(name, v, ':', &f->spec.headers);
        } else if (name == "id") {
          f->spec.id = v;
        } else if (name == "app") {
          f->spec.app = v;
        } else if (name == "path") {
          f->spec.path = v;
        } else if (name == "method") {
          f->spec.method = v;
        } else if (name == "url") {
          f->spec.url = v;
        } else if (name == "lb") {
          const auto mode = client::parse_lb_mode(v);
          if (!mode) std::fprintf(stderr, "fn-runnerctl: --lb wants april or may, got '%s'\n", v);
          ok = mode.has_value();
          if (mode) f->mode = *mode;
        } else if (name == "april-stale-frames") {
          f->stale_frames = true;
        } else if (name == "chunk") {
          ok = parse_number(name, v, &f->chunk) && f->chunk > 0;
        } else if (name == "data") {
          f->data = v;
        } else if (name == "call-json") {
          f->call_json_file = v;
        } else {
          f->tls.take(name, v);
        }
        return ok;
      });
  if (parsed) return parsed;
  if (optind < argc) {
    std::fprintf(stderr, "fn-runnerctl invoke: unexpected argument '%s'\n", argv[optind]);
    return kExitUsage;
  }
  if (f->addr.empty()) {
    std::fputs("fn-runnerctl invoke: --addr is required\n", stderr);
    return kExitUsage;
  }
  if (f->spec.image.empty() && f->call_json_file.empty()) {
    std::fputs("fn-runnerctl invoke: --image (or --call-json) is required\n", stderr);
    return kExitUsage;
  }
  return std::nullopt;
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in) {
    std::fprintf(stderr, "fn-runnerctl: cannot read call JSON %s\n", path.c_str());
    return false;
  }
  *out = std::move(buf).str();
  return true;
}

void print_trailer(const client::CallOutcome& o) {
  if (o.nacked) std::printf("nack: %s\n", o.ack_details.c_str());
  if (o.finished) {
    std::printf("finished: %s\n", o.finished_success ? "success" : o.details.c_str());
  } else {
    std::printf("finished: none\n");
  }
  if (o.grpc_code != 0) std::printf("grpc: %d %s\n", o.grpc_code, o.grpc_message.c_str());
  if (!o.protocol_error.empty()) std::printf("protocol_error: %s\n", o.protocol_error.c_str());
  if (!o.client_error.empty()) std::printf("client_error: %s\n", o.client_error.c_str());
  std::printf("lb_answer: %d%s%s%s\n", o.verdict.http_status,
              o.verdict.http_message.empty() ? "" : " ", o.verdict.http_message.c_str(),
              o.verdict.try_next_runner ? " (would try the next runner)" : "");
}

}  // namespace

int invoke_command(int argc, char** argv) {
  InvokeFlags f;
  if (const std::optional<int> rc = parse_flags(argc, argv, &f)) return *rc;

  std::string call_json;
  if (!f.call_json_file.empty()) {
    if (!read_file(f.call_json_file, &call_json)) return kExitUsage;
  } else {
    if (f.data) {
      f.spec.content_length = static_cast<int64_t>(f.data->size());
    } else if (struct stat st{}; ::fstat(0, &st) == 0 && S_ISREG(st.st_mode)) {
      f.spec.content_length = st.st_size;  // a pipe's length is unknown, as in chunked HTTP
    }
    call_json = build_call_json(f.spec);
  }

  std::string error;
  const std::unique_ptr<client::LbClient> lb =
      client::LbClient::create({.target = f.addr,
                                .mode = f.mode,
                                .tls = f.tls.tls(),
                                .chunk = f.chunk,
                                .april_stale_frames = f.stale_frames},
                               &error);
  if (!lb) {
    std::fprintf(stderr, "fn-runnerctl: %s\n", error.c_str());
    return kExitUsage;
  }

  char last_byte = '\n';
  client::CallOptions options;
  options.on_result_start = [](int status, const client::Headers& headers) {
    std::printf("status: %d\n", status);
    for (const auto& [k, v] : headers) std::printf("%s: %s\n", k.c_str(), v.c_str());
    std::printf("\n");
    std::fflush(stdout);
  };
  // Stream the body out as it comes, so slow functions show progress.
  options.on_data = [&last_byte](std::string_view bytes) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
    last_byte = bytes.back();
  };

  const client::BodySource body =
      f.data ? client::BodySource(std::string_view(*f.data)) : client::BodySource::from_fd(0);
  const client::CallOutcome outcome = lb->engage(call_json, body, options);

  if (last_byte != '\n') std::printf("\n");
  print_trailer(outcome);
  std::fflush(stdout);
  return outcome.success ? kExitOk : kExitFailed;
}

}  // namespace fnr::cli
