#include "shared/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "shared/log.h"

namespace fnr {
namespace {

// Every variable load_config reads; each test starts with all of them unset.
const std::vector<std::string> kEnvVars = {
    "FN_RUNNER_CONFIG",  "FN_GRPC_PORT",           "FN_NODE_CERT",
    "FN_NODE_CERT_KEY",  "FN_NODE_CERT_AUTHORITY", "FN_MAX_TOTAL_MEMORY_BYTES",
    "FN_LOG_LEVEL",      "FN_MAX_RESPONSE_SIZE",   "FN_MAX_HDR_RESPONSE_SIZE",
    "FN_IMAGES_DIR",     "FN_RUNNER_LEDGER",       "FN_RUNNER_WORKER",
    "FN_METRICS_ADDRESS"};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& name : kEnvVars) {
      if (const char* v = std::getenv(name.c_str())) saved_env_[name] = v;
      unsetenv(name.c_str());
    }
    std::string templ = ::testing::TempDir() + "fnr-config-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }

  void TearDown() override {
    for (const auto& name : kEnvVars) unsetenv(name.c_str());
    for (const auto& [name, value] : saved_env_) setenv(name.c_str(), value.c_str(), 1);
    for (const auto& path : files_) unlink(path.c_str());
    rmdir(dir_.c_str());
  }

  std::string write_file(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

  static Config load_ok(const std::vector<std::string>& args) {
    ConfigLoad l = load_config(args);
    EXPECT_TRUE(l.config.has_value()) << l.error;
    EXPECT_EQ(l.error, "");
    return l.config.value_or(Config{});
  }

  static std::string load_error(const std::vector<std::string>& args) {
    ConfigLoad l = load_config(args);
    EXPECT_FALSE(l.config.has_value());
    EXPECT_EQ(l.error.rfind("config: ", 0), 0U) << l.error;
    return l.error;
  }

  std::string dir_;
  std::vector<std::string> files_;
  std::map<std::string, std::string> saved_env_;
};

const char* kFullFile = R"({
  // comments are allowed
  "grpc_address": "10.0.0.1:1234",
  "tls": {"cert": "/c.pem", "key": "/k.pem", "authority": "/ca.pem"},
  "max_total_memory_bytes": 1073741824,
  "ledger_name": "my-ledger",
  "ledger_entries": 128,
  "images_dir": "img",
  "worker_path": "/opt/worker",
  "log_level": "debug",
  "drain_timeout_s": 5,
  "max_response_bytes": 1000,
  "max_request_bytes": 2000,
  "kill_grace_ms": 300,
  "grpc_threads": 3,
  "metrics_address": "[::1]:9464",
  "call": {
    "default_memory_mib": 256, "max_memory_mib": 1024,
    "default_timeout_s": 10, "max_timeout_s": 60,
    "default_idle_timeout_s": 5, "max_idle_timeout_s": 100,
    "max_config_bytes": 10, "max_header_bytes": 20, "max_json_bytes": 30
  }
})";

TEST_F(ConfigTest, DefaultsWithNoSources) {
  Config c = load_ok({});
  Config d;
  EXPECT_EQ(c.grpc_address, "0.0.0.0:9190");
  EXPECT_FALSE(c.tls.enabled());
  EXPECT_EQ(c.max_total_memory_bytes, 0U);
  EXPECT_EQ(c.ledger_name, d.ledger_name);
  EXPECT_EQ(c.ledger_entries, d.ledger_entries);
  EXPECT_EQ(c.images_dir, d.images_dir);
  EXPECT_EQ(c.worker_path, "");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.drain_timeout_s, d.drain_timeout_s);
  EXPECT_EQ(c.max_response_bytes, d.max_response_bytes);
  EXPECT_EQ(c.call_limits.max_memory_mib, 8192U);
  EXPECT_EQ(c.metrics_address, "") << "metrics are off by default";
  EXPECT_EQ(c.grpc_threads, 1U);
  EXPECT_EQ(c.config_file, "");
}

TEST_F(ConfigTest, FileSetsEveryKey) {
  std::string path = write_file("full.json", kFullFile);
  Config c = load_ok({"--config=" + path});
  EXPECT_EQ(c.config_file, path);
  EXPECT_EQ(c.grpc_address, "10.0.0.1:1234");
  EXPECT_EQ(c.tls.cert, "/c.pem");
  EXPECT_EQ(c.tls.key, "/k.pem");
  EXPECT_EQ(c.tls.authority, "/ca.pem");
  EXPECT_EQ(c.max_total_memory_bytes, 1073741824U);
  EXPECT_EQ(c.ledger_name, "my-ledger");
  EXPECT_EQ(c.ledger_entries, 128U);
  EXPECT_EQ(c.images_dir, "img");
  EXPECT_EQ(c.worker_path, "/opt/worker");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.drain_timeout_s, 5U);
  EXPECT_EQ(c.max_response_bytes, 1000U);
  EXPECT_EQ(c.max_request_bytes, 2000U);
  EXPECT_EQ(c.kill_grace_ms, 300U);
  EXPECT_EQ(c.grpc_threads, 3U);
  EXPECT_EQ(c.metrics_address, "[::1]:9464");
  const CallLimits& l = c.call_limits;
  EXPECT_EQ(l.default_memory_mib, 256U);
  EXPECT_EQ(l.max_memory_mib, 1024U);
  EXPECT_EQ(l.default_timeout_s, 10U);
  EXPECT_EQ(l.max_timeout_s, 60U);
  EXPECT_EQ(l.default_idle_timeout_s, 5U);
  EXPECT_EQ(l.max_idle_timeout_s, 100U);
  EXPECT_EQ(l.max_config_bytes, 10U);
  EXPECT_EQ(l.max_header_bytes, 20U);
  EXPECT_EQ(l.max_json_bytes, 30U);
}

TEST_F(ConfigTest, FileFromEnvironment) {
  std::string path = write_file("env.json", R"({"ledger_name": "from-env-file"})");
  setenv("FN_RUNNER_CONFIG", path.c_str(), 1);
  EXPECT_EQ(load_ok({}).ledger_name, "from-env-file");
}

TEST_F(ConfigTest, ConfigFlagBeatsEnvironmentForTheFile) {
  setenv("FN_RUNNER_CONFIG", (dir_ + "/missing.json").c_str(), 1);
  std::string path = write_file("flag.json", R"({"ledger_name": "from-flag-file"})");
  EXPECT_EQ(load_ok({"--config=" + path}).ledger_name, "from-flag-file");
}

TEST_F(ConfigTest, EnvironmentSetsItsKeys) {
  setenv("FN_GRPC_PORT", "7000", 1);
  setenv("FN_NODE_CERT", "c", 1);
  setenv("FN_NODE_CERT_KEY", "k", 1);
  setenv("FN_NODE_CERT_AUTHORITY", "a", 1);
  setenv("FN_MAX_TOTAL_MEMORY_BYTES", "4096", 1);
  setenv("FN_LOG_LEVEL", "DEBUG", 1);  // logrus-style case, as Fn accepts
  setenv("FN_MAX_RESPONSE_SIZE", "777", 1);
  setenv("FN_MAX_HDR_RESPONSE_SIZE", "4096", 1);
  setenv("FN_IMAGES_DIR", "/imgs", 1);
  setenv("FN_RUNNER_LEDGER", "led", 1);
  setenv("FN_RUNNER_WORKER", "/w", 1);
  setenv("FN_METRICS_ADDRESS", "0.0.0.0:9464", 1);
  Config c = load_ok({});
  EXPECT_EQ(c.grpc_address, "0.0.0.0:7000");
  EXPECT_TRUE(c.tls.enabled());
  EXPECT_EQ(c.tls.cert, "c");
  EXPECT_EQ(c.tls.key, "k");
  EXPECT_EQ(c.tls.authority, "a");
  EXPECT_EQ(c.max_total_memory_bytes, 4096U);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.max_response_bytes, 777U);
  EXPECT_EQ(c.max_response_header_bytes, 4096U);
  EXPECT_EQ(c.images_dir, "/imgs");
  EXPECT_EQ(c.ledger_name, "led");
  EXPECT_EQ(c.worker_path, "/w");
  EXPECT_EQ(c.metrics_address, "0.0.0.0:9464");
}

TEST_F(ConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  setenv("FN_IMAGES_DIR", "", 1);
  setenv("FN_GRPC_PORT", "", 1);
  Config c = load_ok({});
  EXPECT_EQ(c.images_dir, Config{}.images_dir);
  EXPECT_EQ(c.grpc_address, "0.0.0.0:9190");
}

TEST_F(ConfigTest, GrpcPortKeepsTheHost) {
  std::string path = write_file("host.json", R"({"grpc_address": "[::1]:9190"})");
  setenv("FN_GRPC_PORT", "5000", 1);
  EXPECT_EQ(load_ok({"--config=" + path}).grpc_address, "[::1]:5000");
}

TEST_F(ConfigTest, FlagsSetTheirKeys) {
  Config c = load_ok({"--grpc-address=127.0.0.1:1", "--images-dir=/x", "--log-level=warn",
                      "--ledger-name=l2", "--max-total-memory-bytes=123", "--worker=/bin/w",
                      "--drain-timeout=9", "--metrics-address=127.0.0.1:0", "--grpc-threads=2"});
  EXPECT_EQ(c.grpc_address, "127.0.0.1:1");
  EXPECT_EQ(c.images_dir, "/x");
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.ledger_name, "l2");
  EXPECT_EQ(c.max_total_memory_bytes, 123U);
  EXPECT_EQ(c.worker_path, "/bin/w");
  EXPECT_EQ(c.drain_timeout_s, 9U);
  EXPECT_EQ(c.metrics_address, "127.0.0.1:0");
  EXPECT_EQ(c.grpc_threads, 2U);
}

TEST_F(ConfigTest, LaterSourcesWin) {
  std::string path = write_file("layers.json", R"({"grpc_address": "10.0.0.1:1234",
      "log_level": "error", "images_dir": "/file", "ledger_name": "file"})");
  setenv("FN_GRPC_PORT", "5000", 1);
  setenv("FN_LOG_LEVEL", "warn", 1);
  setenv("FN_IMAGES_DIR", "/env", 1);
  Config c = load_ok({"--config=" + path, "--images-dir=/flag"});
  EXPECT_EQ(c.grpc_address, "10.0.0.1:5000");  // file host, env port
  EXPECT_EQ(c.log_level, "warn");              // env over file
  EXPECT_EQ(c.images_dir, "/flag");            // flag over env over file
  EXPECT_EQ(c.ledger_name, "file");            // only the file set it
  c = load_ok({"--config=" + path, "--grpc-address=1.2.3.4:1"});
  EXPECT_EQ(c.grpc_address, "1.2.3.4:1");  // flag over env
}

TEST_F(ConfigTest, ExampleFileLoadsAndHasEveryKey) {
  const std::string path = std::string(FNR_FIXTURES_DIR) + "/../../etc/fn-runner.json";
  Config c = load_ok({"--config=" + path});
  EXPECT_EQ(c.grpc_address, "127.0.0.1:9190");
  EXPECT_EQ(c.images_dir, "build/images");
  EXPECT_EQ(c.log_level, "info");

  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str(), nullptr, false, /*ignore_comments=*/true);
  ASSERT_TRUE(doc.is_object());
  for (const char* key :
       {"grpc_address", "tls", "max_total_memory_bytes", "ledger_name", "ledger_entries",
        "images_dir", "worker_path", "log_level", "drain_timeout_s", "max_response_bytes",
        "max_request_bytes", "max_response_header_bytes", "container_start_timeout_ms",
        "kill_grace_ms", "spare_workers", "grpc_threads", "metrics_address", "call", "sandbox"}) {
    EXPECT_TRUE(doc.contains(key)) << key;
  }
  for (const char* key : {"cert", "key", "authority"}) EXPECT_TRUE(doc["tls"].contains(key));
  for (const char* key :
       {"enabled", "uid", "gid", "host_network", "pids_max", "nofile", "tmpfs_mib"}) {
    EXPECT_TRUE(doc["sandbox"].contains(key)) << key;
  }
  EXPECT_TRUE(c.sandbox.enabled);
  EXPECT_EQ(c.sandbox.uid, 65534U);
  for (const char* key : {"default_memory_mib", "max_memory_mib", "default_timeout_s",
                          "max_timeout_s", "default_idle_timeout_s", "max_idle_timeout_s",
                          "max_config_bytes", "max_header_bytes", "max_json_bytes"}) {
    EXPECT_TRUE(doc["call"].contains(key)) << key;
  }
}

struct BadConfig {
  std::string name;
  std::string file;  // "" = no file
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> args;
  std::string want;  // substring of the error
};

std::vector<BadConfig> bad_configs() {
  return {
      {"UnknownKey", R"({"grpc_adress": "x:1"})", {}, {}, R"(unknown key "grpc_adress")"},
      {"UnknownNestedKey",
       R"({"call": {"max_memory": 1}})",
       {},
       {},
       R"(unknown key "call.max_memory")"},
      {"UnknownTlsKey", R"({"tls": {"ca": "x"}})", {}, {}, R"(unknown key "tls.ca")"},
      {"StringForNumber",
       R"({"ledger_entries": "12"})",
       {},
       {},
       R"(key "ledger_entries" must be a non-negative integer)"},
      {"NegativeNumber", R"({"drain_timeout_s": -1})", {}, {}, R"("drain_timeout_s" must be)"},
      {"FloatNumber", R"({"kill_grace_ms": 1.5})", {}, {}, R"("kill_grace_ms" must be)"},
      {"NumberTooBig",
       R"({"ledger_entries": 4294967296})",
       {},
       {},
       R"(key "ledger_entries" is 4294967296, over the maximum 4294967295)"},
      {"NumberForString", R"({"images_dir": 5})", {}, {}, R"(key "images_dir" must be a string)"},
      {"NullForString", R"({"worker_path": null})", {}, {}, R"("worker_path" must be a string)"},
      {"NestedWrongType",
       R"({"call": {"max_memory_mib": "big"}})",
       {},
       {},
       R"(key "call.max_memory_mib" must be)"},
      {"TlsNotObject", R"({"tls": "yes"})", {}, {}, R"(key "tls" must be an object)"},
      {"TopLevelArray", "[]", {}, {}, "the top level must be an object"},
      {"MalformedJson", R"({"grpc_address": )", {}, {}, "parse error at line 1"},
      {"MissingFile",
       "",
       {},
       {"--config=/nonexistent/fn-runner.json"},
       "config: /nonexistent/fn-runner.json: cannot open"},
      {"MissingFileFromEnv",
       "",
       {{"FN_RUNNER_CONFIG", "/nonexistent/x.json"}},
       {},
       "/nonexistent/x.json: cannot open"},
      {"EmptyConfigFlag", "", {}, {"--config="}, "flag --config needs a path"},
      {"UnknownFlag", "", {}, {"--grpc-port=1"}, R"(unknown flag "--grpc-port")"},
      {"SingleDashFlag", "", {}, {"-v"}, R"(unknown flag "-v")"},
      {"PositionalArgument", "", {}, {"serve"}, R"(unknown flag "serve")"},
      {"FlagWithoutValue", "", {}, {"--images-dir"}, "flag --images-dir needs a value"},
      {"BadFlagNumber", "", {}, {"--drain-timeout=abc"}, R"(--drain-timeout "abc" is not an)"},
      {"NegativeFlagNumber", "", {}, {"--max-total-memory-bytes=-1"}, "is not an unsigned"},
      {"FlagNumberWithSuffix", "", {}, {"--max-total-memory-bytes=8G"}, "is not an unsigned"},
      {"FlagNumberOverflow", "", {}, {"--drain-timeout=4294967296"}, "at most 4294967295"},
      {"BadEnvNumber",
       "",
       {{"FN_MAX_TOTAL_MEMORY_BYTES", "12x"}},
       {},
       R"(FN_MAX_TOTAL_MEMORY_BYTES "12x" is not an unsigned integer)"},
      {"BadEnvResponseSize", "", {{"FN_MAX_RESPONSE_SIZE", " 1"}}, {}, "FN_MAX_RESPONSE_SIZE"},
      {"BadGrpcPort", "", {{"FN_GRPC_PORT", "70000"}}, {}, R"(FN_GRPC_PORT "70000" is not a port)"},
      {"GrpcPortOnUnixAddress",
       R"({"grpc_address": "unix:/run/fnr.sock"})",
       {{"FN_GRPC_PORT", "1"}},
       {},
       "FN_GRPC_PORT cannot apply"},
      {"BadGrpcAddress", "", {}, {"--grpc-address=localhost"}, "is not HOST:PORT"},
      {"MetricsAddressWithoutPort", "", {}, {"--metrics-address=127.0.0.1"}, "metrics_address"},
      {"MetricsAddressHostName",
       R"({"metrics_address": "localhost:9464"})",
       {},
       {},
       R"(metrics_address "localhost:9464" is not IP:PORT)"},
      {"MetricsAddressBadPort",
       "",
       {{"FN_METRICS_ADDRESS", "0.0.0.0:65536"}},
       {},
       "metrics_address \"0.0.0.0:65536\" is not IP:PORT (bad port)"},
      {"MetricsAddressUnbracketedV6", "", {}, {"--metrics-address=::1:9464"}, "in brackets"},
      {"NoGrpcThreads", "", {}, {"--grpc-threads=0"}, "grpc_threads 0 is out of range (1 to 64)"},
      {"TooManyGrpcThreads", R"({"grpc_threads": 65})", {}, {}, "grpc_threads 65 is out of range"},
      {"BadGrpcAddressPort", "", {}, {"--grpc-address=localhost:http"}, "is not HOST:PORT"},
      {"TlsPartialEnv",
       "",
       {{"FN_NODE_CERT", "c"}, {"FN_NODE_CERT_KEY", "k"}},
       {},
       "config: FN_NODE_CERT, FN_NODE_CERT_KEY and FN_NODE_CERT_AUTHORITY must be set together"},
      {"TlsPartialFile", R"({"tls": {"authority": "/ca.pem"}})", {}, {}, "must be set together"},
      {"BadLogLevelFlag", "", {}, {"--log-level=verbose"}, R"(unknown log level "verbose")"},
      {"BadLogLevelEnv", "", {{"FN_LOG_LEVEL", "err"}}, {}, R"(unknown log level "err")"},
      {"BadLogLevelFile", R"({"log_level": "fatal"})", {}, {}, R"(unknown log level "fatal")"},
      {"LedgerNameWithSlash", "", {}, {"--ledger-name=a/b"}, "contain no '/'"},
      {"ZeroLedgerEntries", R"({"ledger_entries": 0})", {}, {}, "ledger_entries must be at least"},
      {"EmptyImagesDir", R"({"images_dir": ""})", {}, {}, "images_dir must not be empty"},
      {"DefaultMemoryOverMax",
       R"({"call": {"default_memory_mib": 9000}})",
       {},
       {},
       "call.default_memory_mib 9000 must be in 1..call.max_memory_mib (8192)"},
      {"ZeroDefaultTimeout",
       R"({"call": {"default_timeout_s": 0}})",
       {},
       {},
       "call.default_timeout_s 0 must be in"},
      {"DefaultIdleOverMax",
       R"({"call": {"max_idle_timeout_s": 10}})",
       {},
       {},
       "call.default_idle_timeout_s 30 exceeds"},
  };
}

class ConfigBad : public ConfigTest, public ::testing::WithParamInterface<BadConfig> {};

TEST_P(ConfigBad, IsRejected) {
  const BadConfig& bc = GetParam();
  std::vector<std::string> args = bc.args;
  if (!bc.file.empty()) args.insert(args.begin(), "--config=" + write_file("bad.json", bc.file));
  for (const auto& [name, value] : bc.env) setenv(name.c_str(), value.c_str(), 1);
  std::string error = load_error(args);
  EXPECT_NE(error.find(bc.want), std::string::npos)
      << "error: " << error << "\nwanted: " << bc.want;
}

INSTANTIATE_TEST_SUITE_P(ConfigBadInputs, ConfigBad, ::testing::ValuesIn(bad_configs()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(ConfigLogLevel, KnownNamesOnly) {
  for (const char* level :
       {"trace", "debug", "info", "warn", "warning", "error", "critical", "off", "INFO"}) {
    EXPECT_TRUE(is_valid_log_level(level)) << level;
  }
  for (const char* level : {"", "err", "fatal", "panic", "verbose", "info ", "inf"}) {
    EXPECT_FALSE(is_valid_log_level(level)) << level;
  }
}

TEST(ConfigLogLevel, SetAndInit) {
  EXPECT_TRUE(init_logging("unit-test", "warn"));
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_TRUE(set_log_level("Debug"));
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  EXPECT_FALSE(set_log_level("bogus"));  // unchanged, not silenced
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  // A bad level still leaves a usable logger at info.
  EXPECT_FALSE(init_logging("unit-test-%", "bogus"));
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
  EXPECT_EQ(spdlog::default_logger()->name(), "unit-test-%");
  EXPECT_TRUE(init_logging("unit-test", "info"));
}

}  // namespace
}  // namespace fnr
