#include "shared/call.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fnr {
namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(FNR_FIXTURES_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture " << name;
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Call parse_ok(const std::string& json, const CallLimits& limits = {}) {
  CallParse p = parse_call(json, limits);
  EXPECT_TRUE(p.call.has_value()) << p.error << "\n  for " << json;
  EXPECT_EQ(p.error, "");
  return p.call.value_or(Call{});
}

// A valid minimal call with `extra` members appended.
std::string call_with(const std::string& extra) {
  std::string json = R"({"id":"c1","image":"img")";
  if (!extra.empty()) json += "," + extra;
  return json + "}";
}

const std::vector<std::string>* find_header(const Call& c, const std::string& name) {
  for (const auto& [k, v] : c.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

const std::string* find_config(const Call& c, const std::string& key) {
  for (const auto& [k, v] : c.config) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool printable_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
}

const std::vector<std::string> kFixtures = {"call-apr2018-full-route.json",
                                            "call-apr2018-post.json", "call-current-invoke.json",
                                            "call-current-trigger.json", "call-may2018.json"};

class CallFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(CallFixture, ParsesWithSaneValues) {
  Call c = parse_ok(read_fixture(GetParam()));
  EXPECT_EQ(c.id.size(), 26U);  // a ULID
  EXPECT_EQ(c.image, "fnproject/hello:0.0.1");
  EXPECT_EQ(c.type, "sync");
  EXPECT_TRUE(c.method == "POST" || c.method == "PUT") << c.method;
  EXPECT_GT(c.memory_mib, 0U);
  EXPECT_GT(c.timeout_s, 0U);
  EXPECT_FALSE(c.config.empty());
  EXPECT_TRUE(std::is_sorted(c.config.begin(), c.config.end()));
  EXPECT_FALSE(c.headers.empty());
  EXPECT_EQ(peek_call_id(read_fixture(GetParam())), c.id);
}

INSTANTIATE_TEST_SUITE_P(CallEveryFixture, CallFixture, ::testing::ValuesIn(kFixtures),
                         [](const auto& test_info) {
                           std::string n = test_info.param.substr(5, test_info.param.size() - 10);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(CallFixtures, Apr2018FullRoute) {
  Call c = parse_ok(read_fixture("call-apr2018-full-route.json"));
  EXPECT_EQ(c.id, "01M8G8RKTNR00040GZJ400000Y");
  EXPECT_EQ(c.app_id, "01M8G8FA6HR00040GZJ0000001");
  EXPECT_EQ(c.path, "/full");
  EXPECT_EQ(c.format, "http");
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.url, "http://127.0.0.1:8081/r/myapp/full?a=1");
  EXPECT_EQ(c.memory_mib, 256U);
  EXPECT_EQ(c.timeout_s, 20U);
  EXPECT_EQ(c.idle_timeout_s, 45U);
  EXPECT_EQ(c.cpus_milli, 500U);
  EXPECT_EQ(c.tmpfs_mib, 0U);
  ASSERT_EQ(c.config.size(), 8U);
  EXPECT_EQ(c.config.front(), (std::pair<std::string, std::string>{"APP_CFG", "a1"}));
  EXPECT_EQ(c.config.back(), (std::pair<std::string, std::string>{"ROUTE_CFG", "r2"}));
  ASSERT_NE(find_config(c, "FN_CPUS"), nullptr);
  EXPECT_EQ(*find_config(c, "FN_CPUS"), "500m");
  ASSERT_NE(find_header(c, "X-My-Header"), nullptr);
  EXPECT_EQ(*find_header(c, "X-My-Header"), std::vector<std::string>{"bar"});
  EXPECT_EQ(c.headers.size(), 5U);
}

TEST(CallFixtures, Apr2018Post) {
  Call c = parse_ok(read_fixture("call-apr2018-post.json"));
  EXPECT_EQ(c.id, "01M8G8RKSER00040GZJ400000X");
  EXPECT_EQ(c.format, "default");
  EXPECT_EQ(c.url, "http://127.0.0.1:8081/r/myapp/echo?q=1&x=y");  // \u0026 decoded
  EXPECT_EQ(c.memory_mib, 128U);
  EXPECT_EQ(c.timeout_s, 30U);
  EXPECT_EQ(c.idle_timeout_s, 30U);
  EXPECT_EQ(c.cpus_milli, 0U);
  ASSERT_NE(find_config(c, "ROUTE_CFG"), nullptr);
  EXPECT_EQ(*find_config(c, "ROUTE_CFG"), "r1");
  ASSERT_NE(find_header(c, "X-Multi"), nullptr);
  EXPECT_EQ(*find_header(c, "X-Multi"), (std::vector<std::string>{"one", "two"}));
}

TEST(CallFixtures, May2018) {
  Call c = parse_ok(read_fixture("call-may2018.json"));
  EXPECT_EQ(c.id, "01M8GB57Z4R00040GZJ4000001");
  EXPECT_EQ(c.format, "default");
  EXPECT_EQ(c.path, "/echo");
  EXPECT_EQ(c.memory_mib, 128U);
  ASSERT_NE(find_header(c, "X-Custom"), nullptr);
  EXPECT_EQ(*find_header(c, "X-Custom"), std::vector<std::string>{"c1"});
}

TEST(CallFixtures, CurrentInvokeHasNoFormat) {
  Call c = parse_ok(read_fixture("call-current-invoke.json"));
  EXPECT_EQ(c.id, "01M8GB2X8DR00040GZJ4000005");
  EXPECT_EQ(c.format, "");  // the caller maps this to http-stream
  EXPECT_EQ(c.fn_id, "01M8GB259DR00040GZJ0000002");
  EXPECT_EQ(c.app_name, "myapp");
  EXPECT_EQ(c.path, "");
  ASSERT_NE(find_config(c, "FN_CFG"), nullptr);
  EXPECT_EQ(*find_config(c, "FN_CFG"), "f1");
}

TEST(CallFixtures, CurrentTriggerKeepsRewrittenHeaders) {
  Call c = parse_ok(read_fixture("call-current-trigger.json"));
  EXPECT_EQ(c.id, "01M8GB2X7WR00040GZJ4000004");
  EXPECT_EQ(c.format, "");
  ASSERT_NE(find_header(c, "Fn-Intent"), nullptr);
  EXPECT_EQ(*find_header(c, "Fn-Intent"), std::vector<std::string>{"httprequest"});
  ASSERT_NE(find_header(c, "Fn-Http-Request-Url"), nullptr);
}

TEST(CallDefaults, MinimalCallTakesLimitsDefaults) {
  CallLimits limits;
  limits.default_memory_mib = 64;
  limits.default_timeout_s = 7;
  limits.default_idle_timeout_s = 9;
  Call c = parse_ok(call_with(""), limits);
  EXPECT_EQ(c.type, "sync");
  EXPECT_EQ(c.format, "");
  EXPECT_EQ(c.memory_mib, 64U);
  EXPECT_EQ(c.timeout_s, 7U);
  EXPECT_EQ(c.idle_timeout_s, 9U);
  EXPECT_EQ(c.cpus_milli, 0U);
  EXPECT_TRUE(c.config.empty());
  EXPECT_TRUE(c.headers.empty());
}

TEST(CallDefaults, ZeroMemoryAndIdleTimeoutMeanDefault) {
  Call c = parse_ok(call_with(R"("memory":0,"idle_timeout":0)"));
  EXPECT_EQ(c.memory_mib, 128U);
  EXPECT_EQ(c.idle_timeout_s, 30U);
}

TEST(CallDefaults, NullsCountAsMissing) {
  Call c = parse_ok(
      call_with(R"("type":null,"format":null,"memory":null,"timeout":null,"idle_timeout":null,)"
                R"("cpus":null,"tmpfs_size":null,"config":null,"headers":null,"app_id":null,)"
                R"("method":null,"url":null)"));
  EXPECT_EQ(c.type, "sync");
  EXPECT_EQ(c.memory_mib, 128U);
  EXPECT_EQ(c.timeout_s, 30U);
  EXPECT_EQ(c.app_id, "");
}

TEST(CallDefaults, LimitsAreInclusive) {
  Call c = parse_ok(call_with(R"("memory":8192,"timeout":300,"idle_timeout":3600)"));
  EXPECT_EQ(c.memory_mib, 8192U);
  EXPECT_EQ(c.timeout_s, 300U);
  EXPECT_EQ(c.idle_timeout_s, 3600U);
}

TEST(CallDefaults, KnownTypesAndFormats) {
  for (const char* type : {"sync", "async", "detached"}) {
    EXPECT_EQ(parse_ok(call_with(std::string(R"("type":")") + type + "\"")).type, type);
  }
  for (const char* format : {"default", "http", "json", "http-stream", ""}) {
    EXPECT_EQ(parse_ok(call_with(std::string(R"("format":")") + format + "\"")).format, format);
  }
}

TEST(CallDefaults, SingleStringHeaderIsOneValue) {
  Call c = parse_ok(call_with(R"("headers":{"Accept":"*/*","X-Empty":[],"X-Null":null})"));
  ASSERT_NE(find_header(c, "Accept"), nullptr);
  EXPECT_EQ(*find_header(c, "Accept"), std::vector<std::string>{"*/*"});
  ASSERT_NE(find_header(c, "X-Empty"), nullptr);
  EXPECT_TRUE(find_header(c, "X-Empty")->empty());
  EXPECT_EQ(find_header(c, "X-Null"), nullptr);
}

TEST(CallDefaults, ConfigIsSortedAndMayHoldNewlines) {
  Call c = parse_ok(call_with(R"("config":{"Z":"1","A":"line1\nline2","M":""})"));
  ASSERT_EQ(c.config.size(), 3U);
  EXPECT_EQ(c.config[0].first, "A");
  EXPECT_EQ(c.config[0].second, "line1\nline2");
  EXPECT_EQ(c.config[1].first, "M");
  EXPECT_EQ(c.config[2].first, "Z");
}

TEST(CallDefaults, UnknownFieldsAreIgnored) {
  Call c = parse_ok(call_with(R"("annotations":{"a":{"b":[1,2]}},"priority":0,"extra":null)"));
  EXPECT_EQ(c.id, "c1");
}

struct CpusCase {
  std::string value;  // JSON text
  uint32_t milli;
};

TEST(CallDefaults, CpusForms) {
  const std::vector<CpusCase> cases = {
      {R"("500m")", 500}, {R"("1.5")", 1500},         {R"("2")", 2000},       {"250", 250},
      {R"("")", 0},       {R"(" 100m ")", 100},       {R"(".25")", 250},      {R"("1.0005")", 1000},
      {R"("0")", 0},      {R"("1024000m")", 1024000}, {R"("1024")", 1024000}, {"0", 0},
  };
  for (const auto& [value, milli] : cases) {
    EXPECT_EQ(parse_ok(call_with(R"("cpus":)" + value)).cpus_milli, milli) << value;
  }
}

struct BadCase {
  std::string name;
  std::string json;
  std::string want;  // a substring of the error
};

std::vector<BadCase> bad_cases() {
  const std::string long_id(129, 'a');
  const std::string big_value(70000, 'v');
  const std::string big_header(70000, 'h');
  return {
      {"Truncated", R"({"id":"c1","image":)",
       "invalid call: malformed JSON at line 1, column 20: "},
      {"Empty", "", "invalid call: malformed JSON"},
      {"TrailingGarbage", call_with("") + "x", "malformed JSON"},
      {"InvalidUtf8", "{\"id\":\"c\xff\",\"image\":\"i\"}", "malformed JSON"},
      {"TopLevelArray", R"([{"id":"c1"}])", "invalid call: JSON must be an object"},
      {"TopLevelString", R"("call")", "JSON must be an object"},
      {"TopLevelNull", "null", "JSON must be an object"},
      {"TooBig", call_with(R"("pad":")" + std::string(1U << 20, 'p') + "\""),
       "invalid call: JSON is 1048"},
      {"MissingId", R"({"image":"img"})", "invalid call: missing id"},
      {"EmptyId", R"({"id":"","image":"img"})", "invalid call: missing id"},
      {"NullId", R"({"id":null,"image":"img"})", "invalid call: missing id"},
      {"NumericId", R"({"id":5,"image":"img"})", "invalid call: id must be a string"},
      {"LongId", R"({"id":")" + long_id + R"(","image":"img"})", "id is longer than 128"},
      {"IdWithSpace", R"({"id":"a b","image":"img"})", "id must be printable ASCII"},
      {"IdWithNewline", R"({"id":"a\nb","image":"img"})", "id must be printable ASCII"},
      {"IdNonAscii", R"({"id":"caf\u00e9","image":"img"})", "id must be printable ASCII"},
      {"MissingImage", R"({"id":"c1"})", "invalid call: missing image"},
      {"EmptyImage", R"({"id":"c1","image":""})", "missing image"},
      {"NullImage", R"({"id":"c1","image":null})", "missing image"},
      {"ImageNotString", R"({"id":"c1","image":["a"]})", "image must be a string"},
      {"ImageWithNewline", R"({"id":"c1","image":"a\nb"})", "image contains whitespace"},
      {"MemoryOverMax", call_with(R"("memory":9000)"),
       "invalid call: memory 9000 MiB exceeds the maximum 8192 MiB"},
      {"MemoryFloat", call_with(R"("memory":1.5)"), "invalid call: memory must be an integer"},
      {"MemoryWholeFloat", call_with(R"("memory":128.0)"), "memory must be an integer"},
      {"MemoryExponent", call_with(R"("memory":1e3)"), "memory must be an integer"},
      {"MemoryString", call_with(R"("memory":"128")"), "memory must be an integer"},
      {"MemoryBool", call_with(R"("memory":true)"), "memory must be an integer"},
      {"MemoryNegative", call_with(R"("memory":-1)"), "memory -1 MiB is negative"},
      {"MemoryHuge", call_with(R"("memory":18446744073709551615)"), "out of range"},
      {"MemoryBeyondUint64", call_with(R"("memory":98446744073709551615)"),
       "memory must be an integer"},
      {"TimeoutZero", call_with(R"("timeout":0)"), "invalid call: timeout 0 s is outside 1..300"},
      {"TimeoutNegative", call_with(R"("timeout":-5)"), "timeout -5 s is outside"},
      {"TimeoutOverMax", call_with(R"("timeout":301)"), "timeout 301 s is outside 1..300 s"},
      {"TimeoutFloat", call_with(R"("timeout":1.5)"), "timeout must be an integer"},
      {"TimeoutString", call_with(R"("timeout":"30")"), "timeout must be an integer"},
      {"IdleNegative", call_with(R"("idle_timeout":-1)"), "idle_timeout -1 s is outside 0..3600"},
      {"IdleOverMax", call_with(R"("idle_timeout":3601)"), "idle_timeout 3601 s is outside"},
      {"IdleFloat", call_with(R"("idle_timeout":2.5)"), "idle_timeout must be an integer"},
      {"UnknownFormat", call_with(R"("format":"cloudevent")"),
       R"(invalid call: unknown format "cloudevent")"},
      {"FormatCase", call_with(R"("format":"HTTP")"), R"(unknown format "HTTP")"},
      {"FormatNotString", call_with(R"("format":5)"), "format must be a string"},
      {"UnknownType", call_with(R"("type":"batch")"), R"(unknown type "batch")"},
      {"TypeNotString", call_with(R"("type":1)"), "type must be a string"},
      {"CpusWord", call_with(R"("cpus":"abc")"), R"(cpus "abc" is not like)"},
      {"CpusNegativeText", call_with(R"("cpus":"-1")"), "cpus \"-1\""},
      {"CpusTwoDots", call_with(R"("cpus":"1.5.5")"), "is not like"},
      {"CpusBareM", call_with(R"("cpus":"m")"), "is not like"},
      {"CpusExponent", call_with(R"("cpus":"1e3")"), "is not like"},
      {"CpusFractionalMilli", call_with(R"("cpus":"1.5m")"), "is not like"},
      {"CpusBool", call_with(R"("cpus":true)"), "cpus must be a string"},
      {"CpusNegativeNumber", call_with(R"("cpus":-100)"), "cpus must be a string"},
      {"CpusFloatNumber", call_with(R"("cpus":1.5)"), "cpus must be a string"},
      {"CpusOverMax", call_with(R"("cpus":"2000000m")"), "cpus exceeds the maximum 1024000m"},
      {"CpusCoresOverMax", call_with(R"("cpus":"1025")"), "cpus exceeds the maximum"},
      {"CpusNumberOverMax", call_with(R"("cpus":1024001)"), "cpus exceeds the maximum"},
      {"TmpfsNegative", call_with(R"("tmpfs_size":-1)"), "tmpfs_size -1 MiB is out of range"},
      {"TmpfsString", call_with(R"("tmpfs_size":"10")"), "tmpfs_size must be an integer"},
      {"TmpfsFloat", call_with(R"("tmpfs_size":1.5)"), "tmpfs_size must be an integer"},
      {"TmpfsHuge", call_with(R"("tmpfs_size":5000000000)"), "out of range"},
      {"ConfigArray", call_with(R"("config":["A=1"])"), "config must be an object"},
      {"ConfigNumberValue", call_with(R"("config":{"A":1})"), R"(config "A" must be a string)"},
      {"ConfigEmptyKey", call_with(R"("config":{"":"x"})"), "config has an empty key"},
      {"ConfigKeyWithEquals", call_with(R"("config":{"A=B":"x"})"),
       R"(config key "A=B" contains '=' or NUL)"},
      {"ConfigKeyWithNul", call_with(R"("config":{"A\u0000":"x"})"),
       R"(config key "A\x00" contains)"},
      {"ConfigValueWithNul", call_with(R"("config":{"A":"x\u0000y"})"),
       R"(config "A" contains NUL)"},
      {"ConfigTooBig", call_with(R"("config":{"A":")" + big_value + "\"}"),
       "config is 70001 bytes, over the limit of 65536"},
      {"HeadersArray", call_with(R"("headers":[])"), "headers must be an object"},
      {"HeaderNumber", call_with(R"("headers":{"X":1})"),
       R"(header "X" must be a string or an array of strings)"},
      {"HeaderNumberInArray", call_with(R"("headers":{"X":["a",1]})"),
       "must be a string or an array"},
      {"HeaderObject", call_with(R"("headers":{"X":{}})"), "must be a string or an array"},
      {"HeaderValueCrLf", call_with(R"("headers":{"X":["a\r\nInjected: 1"]})"),
       R"(invalid call: header "X" contains CR/LF)"},
      {"HeaderValueLf", call_with(R"("headers":{"X":"a\nb"})"), "contains CR/LF"},
      {"HeaderValueNul", call_with(R"("headers":{"X":["a\u0000"]})"), R"(header "X" contains NUL)"},
      {"HeaderNameCrLf", call_with(R"("headers":{"X\r\nY":["a"]})"),
       R"(header name "X\x0d\x0aY" is not a valid HTTP token)"},
      {"HeaderNameSpace", call_with(R"("headers":{"Bad Name":["a"]})"), "not a valid HTTP token"},
      {"HeaderNameColon", call_with(R"("headers":{"X:Y":["a"]})"), "not a valid HTTP token"},
      {"HeaderNameEmpty", call_with(R"("headers":{"":["a"]})"), "not a valid HTTP token"},
      {"HeaderNameNul", call_with(R"("headers":{"X\u0000":["a"]})"), "not a valid HTTP token"},
      {"HeadersTooBig", call_with(R"("headers":{"X":[")" + big_header + "\"]}"),
       "headers are 70001 bytes, over the limit of 65536"},
      {"MethodWithSpace", call_with(R"("method":"GE T")"), R"(method "GE T" is not a valid)"},
      {"MethodNotString", call_with(R"("method":1)"), "method must be a string"},
      {"UrlWithNewline", call_with(R"("url":"http://x/\r\nHost: y")"),
       "url contains a control character"},
      {"AppNameWithNewline", call_with(R"("app_name":"a\nb")"), "app_name contains a control"},
      {"AppIdNotString", call_with(R"("app_id":7)"), "app_id must be a string"},
      {"FnIdNotString", call_with(R"("fn_id":{})"), "fn_id must be a string"},
      {"PathNotString", call_with(R"("path":false)"), "path must be a string"},
  };
}

class CallBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(CallBad, IsRejectedWithAReason) {
  const BadCase& bc = GetParam();
  CallParse p = parse_call(bc.json, CallLimits{});
  ASSERT_FALSE(p.call.has_value()) << bc.json.substr(0, 200);
  EXPECT_NE(p.error.find(bc.want), std::string::npos)
      << "error: " << p.error << "\nwanted: " << bc.want;
  // The reason is sent to the LB as NACK details: short, printable, prefixed.
  EXPECT_EQ(p.error.rfind("invalid call: ", 0), 0U) << p.error;
  EXPECT_TRUE(printable_ascii(p.error)) << p.error;
  EXPECT_LT(p.error.size(), 260U) << p.error;
}

INSTANTIATE_TEST_SUITE_P(CallBadInputs, CallBad, ::testing::ValuesIn(bad_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(CallLimitsApplied, CustomLimitsAreHonoured) {
  CallLimits limits;
  limits.max_memory_mib = 512;
  limits.max_timeout_s = 60;
  limits.max_idle_timeout_s = 10;
  limits.max_config_bytes = 4;
  limits.max_header_bytes = 4;
  limits.max_json_bytes = 200;
  auto error_of = [&](const std::string& json) { return parse_call(json, limits).error; };
  EXPECT_EQ(error_of(call_with(R"("memory":1024)")),
            "invalid call: memory 1024 MiB exceeds the maximum 512 MiB");
  EXPECT_NE(error_of(call_with(R"("timeout":61)")).find("outside 1..60 s"), std::string::npos);
  EXPECT_NE(error_of(call_with(R"("idle_timeout":11)")).find("outside 0..10 s"), std::string::npos);
  EXPECT_NE(error_of(call_with(R"("config":{"AB":"CDE"})")).find("config is 5 bytes"),
            std::string::npos);
  EXPECT_EQ(error_of(call_with(R"("config":{"AB":"CD"})")), "");
  EXPECT_NE(error_of(call_with(R"("headers":{"X":["abcd"]})")).find("headers are 5 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(call_with(R"("pad":")" + std::string(200, 'x') + "\""))
                .find("over the limit of 200"),
            std::string::npos);
}

TEST(CallPeekId, FindsTopLevelIdOnly) {
  EXPECT_EQ(peek_call_id(R"({"id":"abc","image":"i"})"), "abc");
  EXPECT_EQ(peek_call_id(R"({"x":{"id":"inner"},"id":"outer"})"), "outer");
  EXPECT_EQ(peek_call_id(R"({"x":{"id":"inner"}})"), "");
  EXPECT_EQ(peek_call_id(R"({"id":5})"), "");
  EXPECT_EQ(peek_call_id(R"({"id":null})"), "");
  EXPECT_EQ(peek_call_id(R"(["id","abc"])"), "");
  EXPECT_EQ(peek_call_id(""), "");
  EXPECT_EQ(peek_call_id("not json"), "");
}

TEST(CallPeekId, SurvivesDamageAfterTheId) {
  EXPECT_EQ(peek_call_id(R"({"id":"abc","memory":1.5.5,)"), "abc");
  EXPECT_EQ(peek_call_id(R"({"id":"abc","image":)"), "abc");
  // An unterminated id is not an id.
  EXPECT_EQ(peek_call_id(R"({"id":"ab)"), "");
}

TEST(CallPeekId, EscapesWhatWouldForgeALogLine) {
  EXPECT_EQ(peek_call_id(R"({"id":"a\nb"})"), "a\\x0ab");
}

// Every prefix of a fixture must fail cleanly (never crash, never accept),
// and once the id is complete peek_call_id must still find it.
TEST(CallFuzz, TruncationsNeverCrash) {
  for (const auto& name : kFixtures) {
    const std::string full = read_fixture(name);
    const std::string id = parse_ok(full).id;
    const size_t id_end = full.find(id) + id.size() + 1;  // past the closing quote
    for (size_t n = 0; n < full.size(); ++n) {
      const std::string prefix = full.substr(0, n);
      CallParse p = parse_call(prefix, CallLimits{});
      ASSERT_FALSE(p.call.has_value()) << name << " prefix " << n;
      ASSERT_FALSE(p.error.empty());
      ASSERT_TRUE(printable_ascii(p.error)) << p.error;
      std::string peeked = peek_call_id(prefix);
      if (n >= id_end) {
        ASSERT_EQ(peeked, id) << name << " prefix " << n;
      }
    }
  }
}

TEST(CallFuzz, ByteFlipsNeverCrash) {
  std::mt19937 rng(20180416);  // fixed: failures must reproduce
  // Structural bytes, digits, controls, NUL and invalid UTF-8.
  static constexpr char kBytes[] = "{}[]\":,\\09.-eE \n\r\0\xff\x80ntf";
  const std::string interesting(kBytes, sizeof kBytes - 1);
  for (const auto& name : kFixtures) {
    const std::string full = read_fixture(name);
    for (int round = 0; round < 2000; ++round) {
      std::string mutated = full;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        mutated[rng() % mutated.size()] = interesting[rng() % interesting.size()];
      }
      CallParse p = parse_call(mutated, CallLimits{});
      if (!p.call) {
        ASSERT_FALSE(p.error.empty());
        ASSERT_TRUE(printable_ascii(p.error)) << p.error;
      }
      (void)peek_call_id(mutated);
    }
  }
}

TEST(CallFuzz, DeepNestingIsRejectedNotOverflowed) {
  const std::string deep = R"({"id":"c1","image":"i","x":)" + std::string(500000, '[');
  CallParse p = parse_call(deep, CallLimits{});
  EXPECT_FALSE(p.call.has_value());
  const std::string closed =
      R"({"id":"c1","image":"i","x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_TRUE(parse_call(closed, CallLimits{}).call.has_value());
}

}  // namespace
}  // namespace fnr
