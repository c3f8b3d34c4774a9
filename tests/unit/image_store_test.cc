#include "shared/image_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shared/image_ref.h"
#include "shared/sha256.h"
#include "tests/support/oci_builder.h"

namespace fnr {
namespace {

namespace fs = std::filesystem;
using test_support::BuiltImage;
using test_support::Compression;
using test_support::ImageSpec;
using test_support::Layer;
using test_support::LayerEntry;
using test_support::OciLayoutBuilder;
using test_support::read_file;
using test_support::write_file;

ImageSpec one_layer(std::vector<LayerEntry> entries) {
  ImageSpec spec;
  spec.layers.push_back(Layer{std::move(entries)});
  return spec;
}

ImageSpec two_layers(std::vector<LayerEntry> lower, std::vector<LayerEntry> upper) {
  ImageSpec spec;
  spec.layers.push_back(Layer{std::move(lower)});
  spec.layers.push_back(Layer{std::move(upper)});
  return spec;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = test_support::make_temp_dir("fnr-image-test");
    store_dir_ = work_ + "/store";
    store_ = std::make_unique<ImageStore>(store_dir_);
  }
  void TearDown() override {
    store_.reset();
    test_support::remove_all(work_);
  }

  // A layout directory holding `spec`, under a fresh name.
  std::string layout(const ImageSpec& spec, BuiltImage* built = nullptr) {
    std::string dir = work_ + "/layout" + std::to_string(++counter_);
    OciLayoutBuilder builder(dir);
    const BuiltImage b = builder.add(spec);
    if (built != nullptr) *built = b;
    return dir;
  }

  StoredImage import_spec(const ImageSpec& spec, const std::string& ref = "test/image:1") {
    return store_->import(layout(spec), ref);
  }

  // Import must fail with a message holding every one of `parts`, and
  // leave the store as empty as it was.
  void expect_refused(const std::string& path, const std::vector<std::string>& parts) {
    try {
      store_->import(path, "test/hostile:1");
      ADD_FAILURE() << "import of " << path << " succeeded";
    } catch (const ImageError& e) {
      for (const std::string& p : parts) {
        EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
            << "message '" << e.what() << "' lacks '" << p << "'";
      }
    }
    expect_store_empty();
  }

  void expect_store_empty() {
    for (const char* sub : {"tmp", "rootfs", "refs", "configs"}) {
      EXPECT_EQ(dir_entries(store_dir_ + "/" + sub), std::vector<std::string>{}) << sub;
    }
  }

  std::string outside_dir() {
    std::string dir = work_ + "/outside";
    fs::create_directories(dir);
    return dir;
  }

  std::string work_;
  std::string store_dir_;
  std::unique_ptr<ImageStore> store_;
  int counter_ = 0;
};

TEST_F(ImageStoreTest, ImportsOciLayoutDirectory) {
  ImageSpec spec = one_layer({
      LayerEntry::dir("bin"),
      LayerEntry::file("bin/hello", "hi", 0755),
      LayerEntry::symlink("bin/hi", "hello"),
      LayerEntry::hardlink("bin/hello2", "bin/hello"),
      LayerEntry::file("./etc/motd", "welcome\n"),
      LayerEntry::file("caf\xc3\xa9.txt", "utf-8 name"),
  });
  spec.entrypoint = {"/bin/hello"};
  spec.cmd = {"--flag"};
  spec.env = {"PATH=/bin", "A=b"};
  spec.working_dir = "/work";
  spec.user = "1000:1000";
  BuiltImage built;
  const std::string dir = layout(spec, &built);

  const StoredImage image = store_->import(dir, "fnproject/hello:0.0.1");
  EXPECT_EQ(image.ref, "fnproject/hello:0.0.1");
  EXPECT_EQ(image.digest, built.manifest_digest);
  EXPECT_EQ(image.rootfs, store_dir_ + "/rootfs/" + std::string(digest_hex(built.manifest_digest)));
  EXPECT_EQ(image.config.entrypoint, std::vector<std::string>{"/bin/hello"});
  EXPECT_EQ(image.config.cmd, std::vector<std::string>{"--flag"});
  EXPECT_EQ(image.config.env, (std::vector<std::string>{"PATH=/bin", "A=b"}));
  EXPECT_EQ(image.config.working_dir, "/work");
  EXPECT_EQ(image.config.user, "1000:1000");
  // "hi" + "welcome\n" + "utf-8 name"; the hard link counts once.
  EXPECT_EQ(image.size_bytes, 2u + 8u + 10u);

  const std::string& r = image.rootfs;
  EXPECT_EQ(read_file(r + "/bin/hello"), "hi");
  EXPECT_EQ(lstat_of(r + "/bin/hello").st_mode & 07777, 0755u);
  EXPECT_EQ(fs::read_symlink(r + "/bin/hi"), "hello");
  EXPECT_EQ(lstat_of(r + "/bin/hello2").st_ino, lstat_of(r + "/bin/hello").st_ino);
  EXPECT_EQ(read_file(r + "/etc/motd"), "welcome\n");
  EXPECT_EQ(read_file(r + "/caf\xc3\xa9.txt"), "utf-8 name");
  EXPECT_EQ(lstat_of(r + "/bin/hello").st_mtime, 1700000000);
  // The mount points the sandbox needs, and a root others can enter.
  EXPECT_EQ(lstat_of(r).st_mode & 07777, 0755u);
  EXPECT_EQ(lstat_of(r + "/proc").st_mode & 07777, 0755u);
  EXPECT_EQ(lstat_of(r + "/dev").st_mode & 07777, 0755u);
  EXPECT_EQ(lstat_of(r + "/tmp").st_mode & 07777, 01777u);
  // Nothing left in the staging area.
  EXPECT_EQ(dir_entries(store_dir_ + "/tmp"), std::vector<std::string>{});
  // Only the five fields runners need are kept of the config.
  const nlohmann::json cfg = nlohmann::json::parse(
      read_file(store_dir_ + "/configs/" + std::string(digest_hex(image.digest)) + ".json"));
  EXPECT_EQ(cfg["config"].size(), 5u);
  EXPECT_FALSE(cfg["config"].contains("Labels"));
  EXPECT_EQ(lstat_of(store_dir_).st_mode & 0777, 0700u);
}

TEST_F(ImageStoreTest, ImportsOciArchive) {
  ImageSpec spec = one_layer({LayerEntry::file("hello.txt", "from an archive")});
  spec.entrypoint = {"/hello"};
  BuiltImage built;
  const std::string dir = layout(spec, &built);
  const std::string tar = work_ + "/image.oci.tar";
  test_support::write_tar_of_dir(dir, tar);

  const StoredImage a = store_->import("oci-archive:" + tar, "archive/a:1");
  EXPECT_EQ(a.digest, built.manifest_digest);
  EXPECT_EQ(read_file(a.rootfs + "/hello.txt"), "from an archive");
  EXPECT_EQ(a.config.entrypoint, std::vector<std::string>{"/hello"});
  // Without the transport prefix the kind is detected.
  const StoredImage b = store_->import(tar, "archive/b:1");
  EXPECT_EQ(b.digest, built.manifest_digest);
  EXPECT_EQ(dir_entries(store_dir_ + "/tmp"), std::vector<std::string>{});
}

TEST_F(ImageStoreTest, ImportsDockerSaveArchive) {
  ImageSpec spec = two_layers({LayerEntry::dir("app"), LayerEntry::file("app/v", "1")},
                              {LayerEntry::file("app/v", "2"), LayerEntry::whiteout("app/gone")});
  spec.cmd = {"/app/run"};
  spec.env = {"X=y"};
  const std::string tar = work_ + "/docker.tar";
  test_support::write_docker_archive(tar, spec, "fnproject/docker:0.1");

  const StoredImage image = store_->import(tar, "fnproject/docker:0.1");
  EXPECT_EQ(read_file(image.rootfs + "/app/v"), "2");
  EXPECT_EQ(image.config.cmd, std::vector<std::string>{"/app/run"});
  EXPECT_EQ(image.config.env, std::vector<std::string>{"X=y"});
  EXPECT_TRUE(is_sha256_digest(image.digest));
  // The synthesised manifest digest depends on the content alone.
  const StoredImage again = store_->import("docker-archive:" + tar, "other/name:2");
  EXPECT_EQ(again.digest, image.digest);
  // Picking the image by its RepoTag works; a tag it lacks names the ones it has.
  EXPECT_EQ(store_->import(tar + ":fnproject/docker:0.1", "x/y:1").digest, image.digest);
  try {
    store_->import("docker-archive:" + tar + ":nope:1", "x/y:2");
    ADD_FAILURE() << "unknown RepoTag accepted";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("fnproject/docker:0.1"), std::string::npos) << e.what();
  }
}

TEST_F(ImageStoreTest, DockerArchiveLayerNotMatchingDiffIdIsRefused) {
  const ImageSpec spec = one_layer({LayerEntry::file("f", "original")});
  const std::string tar = work_ + "/docker.tar";
  test_support::write_docker_archive(tar, spec, "a/b:1");
  // Swap the layer for another of the same size: only the config's diff_id
  // can tell.
  std::string archive = read_file(tar);
  const std::string good =
      test_support::layer_tar(Layer{{LayerEntry::file("f", "original")}, Compression::kNone});
  const std::string bad =
      test_support::layer_tar(Layer{{LayerEntry::file("f", "originaX")}, Compression::kNone});
  ASSERT_EQ(good.size(), bad.size());
  const size_t at = archive.find(good);
  ASSERT_NE(at, std::string::npos);
  archive.replace(at, good.size(), bad);
  write_file(tar, archive);
  expect_refused(tar, {"layer0/layer.tar", "digest mismatch"});
}

TEST_F(ImageStoreTest, UpperLayerOverridesLower) {
  const std::string outside = outside_dir();
  const ImageSpec spec = two_layers(
      {
          LayerEntry::file("a", "lower"),
          LayerEntry::dir("d"),
          LayerEntry::file("d/x", "x"),
          LayerEntry::file("f", "file becomes dir"),
          LayerEntry::symlink("s", outside + "/target"),
          LayerEntry::dir("merged"),
          LayerEntry::file("merged/lower", "l"),
      },
      {
          LayerEntry::file("a", "upper"),
          LayerEntry::file("d", "dir becomes file"),
          LayerEntry::dir("f"),
          LayerEntry::file("f/inside", "i"),
          // Replaces the symlink; must not write through it.
          LayerEntry::file("s", "not through the link"),
          LayerEntry::dir("merged", 0700),
          LayerEntry::file("merged/upper", "u"),
      });
  const StoredImage image = import_spec(spec);
  const std::string& r = image.rootfs;
  EXPECT_EQ(read_file(r + "/a"), "upper");
  EXPECT_EQ(read_file(r + "/d"), "dir becomes file");
  EXPECT_EQ(read_file(r + "/f/inside"), "i");
  EXPECT_TRUE(S_ISREG(lstat_of(r + "/s").st_mode));
  EXPECT_EQ(read_file(r + "/s"), "not through the link");
  EXPECT_EQ(dir_entries(outside), std::vector<std::string>{});
  // Directories merge: lower content stays, the upper entry's mode wins.
  EXPECT_EQ(dir_entries(r + "/merged"), (std::vector<std::string>{"lower", "upper"}));
  EXPECT_EQ(lstat_of(r + "/merged").st_mode & 07777, 0700u);
}

TEST_F(ImageStoreTest, WhiteoutDeletesLowerLayerEntries) {
  const ImageSpec spec = two_layers(
      {
          LayerEntry::file("a", "a"),
          LayerEntry::file("b", "b"),
          LayerEntry::dir("d"),
          LayerEntry::file("d/x", "x"),
          LayerEntry::dir("keep"),
          LayerEntry::file("keep/gone", "g"),
          LayerEntry::file("keep/stays", "s"),
      },
      {
          LayerEntry::whiteout("a"),
          LayerEntry::whiteout("d"),
          LayerEntry::whiteout("keep/gone"),
          LayerEntry::whiteout("never/existed"),
          // A whiteout and new content of the same name in one layer: the
          // whiteout only hides the lower layers.
          LayerEntry::file("b", "new b"),
          LayerEntry::whiteout("b"),
      });
  const StoredImage image = import_spec(spec);
  const std::string& r = image.rootfs;
  EXPECT_FALSE(exists(r + "/a"));
  EXPECT_FALSE(exists(r + "/d"));
  EXPECT_FALSE(exists(r + "/keep/gone"));
  EXPECT_FALSE(exists(r + "/never"));
  EXPECT_EQ(read_file(r + "/keep/stays"), "s");
  EXPECT_EQ(read_file(r + "/b"), "new b");
  EXPECT_FALSE(exists(r + "/.wh.a"));
  EXPECT_FALSE(exists(r + "/keep/.wh.gone"));
}

TEST_F(ImageStoreTest, OpaqueDirectoryHidesLowerContentOnly) {
  const ImageSpec spec = two_layers(
      {
          LayerEntry::dir("d"),
          LayerEntry::file("d/old", "o"),
          LayerEntry::dir("d/sub"),
          LayerEntry::file("d/sub/deep", "deep"),
          LayerEntry::file("other", "untouched"),
      },
      {
          // New content before the marker and after it: tar order must not matter.
          LayerEntry::file("d/new", "n"),
          LayerEntry::opaque("d"),
          LayerEntry::file("d/sub/kept", "k"),
      });
  const StoredImage image = import_spec(spec);
  const std::string& r = image.rootfs;
  EXPECT_EQ(dir_entries(r + "/d"), (std::vector<std::string>{"new", "sub"}));
  EXPECT_EQ(dir_entries(r + "/d/sub"), std::vector<std::string>{"kept"});
  EXPECT_EQ(read_file(r + "/other"), "untouched");
}

TEST_F(ImageStoreTest, RefusesParentDirComponents) {
  expect_refused(layout(one_layer({LayerEntry::file("../escape", "x")})),
                 {"entry '../escape'", "'..'"});
  expect_refused(layout(one_layer({LayerEntry::dir("a"), LayerEntry::file("a/../../escape", "x")})),
                 {"entry 'a/../../escape'", "'..'"});
  EXPECT_FALSE(exists(work_ + "/escape"));
  EXPECT_FALSE(exists(store_dir_ + "/escape"));
}

TEST_F(ImageStoreTest, RefusesAbsolutePaths) {
  const std::string target = work_ + "/absolute-target";
  expect_refused(layout(one_layer({LayerEntry::file(target, "x")})),
                 {"entry '" + target + "'", "absolute path"});
  EXPECT_FALSE(exists(target));
}

TEST_F(ImageStoreTest, RefusesHardLinksOutOfTheRoot) {
  const std::string secret = outside_dir() + "/secret";
  write_file(secret, "host secret");
  expect_refused(layout(one_layer({LayerEntry::hardlink("x", "../../../../" + secret)})),
                 {"entry 'x'", "hard link target", "escapes the root"});
  expect_refused(layout(one_layer({LayerEntry::hardlink("x", secret)})),
                 {"entry 'x'", "escapes the root"});
  // Through a symlink to the outside: the link target is resolved without
  // following symlinks.
  expect_refused(layout(one_layer({LayerEntry::symlink("l", fs::path(secret).parent_path()),
                                   LayerEntry::hardlink("x", "l/secret")})),
                 {"entry 'x'", "symlink 'l'"});
  expect_refused(layout(one_layer({LayerEntry::hardlink("x", "missing")})),
                 {"entry 'x'", "does not exist"});
  EXPECT_EQ(lstat_of(secret).st_nlink, 1u);
}

TEST_F(ImageStoreTest, RefusesWritingThroughSymlinks) {
  const std::string outside = outside_dir();
  // Absolute and relative links to a host directory, in the same layer and
  // in a lower one: nothing may land outside.
  expect_refused(
      layout(one_layer({LayerEntry::symlink("a", outside), LayerEntry::file("a/pwned", "x")})),
      {"entry 'a/pwned'", "symlink 'a'"});
  expect_refused(
      layout(two_layers({LayerEntry::symlink("a", outside)}, {LayerEntry::file("a/pwned", "x")})),
      {"layer 2/2", "entry 'a/pwned'", "symlink 'a'"});
  const std::string up = "../../../../../../../../../..";
  expect_refused(
      layout(one_layer({LayerEntry::dir("etc"), LayerEntry::symlink("etc/rel", up + outside),
                        LayerEntry::dir("etc/rel/sub")})),
      {"entry 'etc/rel/sub", "symlink 'etc/rel'"});
  // A whiteout through a symlink would delete outside.
  write_file(outside + "/victim", "v");
  expect_refused(
      layout(two_layers({LayerEntry::symlink("a", outside)}, {LayerEntry::whiteout("a/victim")})),
      {"entry 'a/.wh.victim'", "symlink 'a'"});
  EXPECT_EQ(dir_entries(outside), std::vector<std::string>{"victim"});
}

TEST_F(ImageStoreTest, RefusesDeviceNodes) {
  expect_refused(
      layout(one_layer({LayerEntry::dir("dev"), LayerEntry::char_device("dev/mem", 1, 1)})),
      {"entry 'dev/mem'", "character device 1:1", "not allowed"});
  expect_refused(layout(one_layer({LayerEntry::block_device("sda", 8, 0)})),
                 {"entry 'sda'", "block device 8:0"});
}

TEST_F(ImageStoreTest, SkipsFifosWithAWarning) {
  std::vector<std::string> warnings;
  const StoredImage image =
      store_->import(layout(one_layer({LayerEntry::fifo("pipe"), LayerEntry::file("f", "x")})),
                     "a/b:1", &warnings);
  EXPECT_FALSE(exists(image.rootfs + "/pipe"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("'pipe': skipped fifo"), std::string::npos) << warnings[0];
}

TEST_F(ImageStoreTest, StripsSetIdBitsKeepsOwners) {
  const StoredImage image = import_spec(one_layer({
      LayerEntry::file("suid", "x", 04755),
      LayerEntry::file("sgid", "x", 02711),
      LayerEntry::dir("sticky", 01777),
      LayerEntry::dir("sgiddir", 02775),
      LayerEntry::file("owned", "x", 0600).owned_by(1234, 5678),
  }));
  const std::string& r = image.rootfs;
  EXPECT_EQ(lstat_of(r + "/suid").st_mode & 07777, 0755u);
  EXPECT_EQ(lstat_of(r + "/sgid").st_mode & 07777, 0711u);
  EXPECT_EQ(lstat_of(r + "/sticky").st_mode & 07777, 01777u);
  EXPECT_EQ(lstat_of(r + "/sgiddir").st_mode & 07777, 0775u);
  if (geteuid() == 0) {
    EXPECT_EQ(lstat_of(r + "/owned").st_uid, 1234u);
    EXPECT_EQ(lstat_of(r + "/owned").st_gid, 5678u);
  }
}

TEST_F(ImageStoreTest, RefusesDigestMismatch) {
  BuiltImage built;
  const std::string dir = layout(one_layer({LayerEntry::file("f", "original")}), &built);
  const std::string blob = dir + "/blobs/sha256/" + std::string(digest_hex(built.layer_digests[0]));
  const std::string good = read_file(blob);
  // Same size, different bytes: only the digest can tell.
  const std::string evil = test_support::layer_tar(Layer{{LayerEntry::file("f", "tampered")}});
  write_file(blob, evil);
  expect_refused(dir, {built.layer_digests[0], "digest mismatch"});
  write_file(blob, good);

  const std::string config = dir + "/blobs/sha256/" + std::string(digest_hex(built.config_digest));
  std::string text = read_file(config);
  text[text.find("oci_builder")] = 'X';
  write_file(config, text);
  expect_refused(dir, {built.config_digest, "digest mismatch"});
}

TEST_F(ImageStoreTest, RefusesWhatIsNotAnImage) {
  const std::string dir = work_ + "/empty";
  fs::create_directories(dir);
  expect_refused(dir, {"neither an OCI image layout", "nor a docker save archive"});
  expect_refused(work_ + "/missing", {"missing", "No such file"});
  const std::string junk = work_ + "/junk.tar";
  write_file(junk, std::string(3000, 'j'));
  expect_refused(junk, {"junk.tar"});
}

TEST_F(ImageStoreTest, SupportsZstdAndPlainLayers) {
  ImageSpec spec;
  spec.layers.push_back(Layer{{LayerEntry::file("z", "zstd")}, Compression::kZstd});
  spec.layers.push_back(Layer{{LayerEntry::file("p", "plain")}, Compression::kNone});
  const StoredImage image = import_spec(spec);
  EXPECT_EQ(read_file(image.rootfs + "/z"), "zstd");
  EXPECT_EQ(read_file(image.rootfs + "/p"), "plain");
}

TEST_F(ImageStoreTest, PicksTheManifestOfAMultiImageLayout) {
  const std::string dir = work_ + "/multi";
  OciLayoutBuilder builder(dir);
  ImageSpec one = one_layer({LayerEntry::file("v", "1")});
  one.ref_name = "1.0";
  ImageSpec two = one_layer({LayerEntry::file("v", "2")});
  two.ref_name = "2.0";
  builder.add(one);
  builder.add(two);
  EXPECT_EQ(read_file(store_->import(dir + ":2.0", "m/a:1").rootfs + "/v"), "2");
  EXPECT_EQ(read_file(store_->import("oci:" + dir + ":1.0", "m/a:2").rootfs + "/v"), "1");
  try {
    store_->import(dir, "m/a:3");
    ADD_FAILURE() << "ambiguous layout accepted";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("several images"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(2.0)"), std::string::npos) << e.what();
  }
  // Without one, the tag it is imported as decides.
  EXPECT_EQ(read_file(store_->import(dir, "m/a:2.0").rootfs + "/v"), "2");
  try {
    store_->import(dir + ":3.0", "m/a:3");
    ADD_FAILURE() << "unknown reference accepted";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("no image named '3.0'"), std::string::npos) << e.what();
  }
}

TEST_F(ImageStoreTest, PicksThisPlatformFromANestedIndex) {
  // As `skopeo copy --all ... oci:DIR:multi` writes a multi-arch image:
  // index.json -> image index -> one manifest per platform.
  const std::string dir = work_ + "/nested";
  OciLayoutBuilder builder(dir);
  ImageSpec arm = one_layer({LayerEntry::file("arch", "arm64")});
  arm.architecture = "arm64";
  arm.platform_in_index = true;
  ImageSpec amd = one_layer({LayerEntry::file("arch", "amd64")});
  amd.platform_in_index = true;
  builder.add(arm);
  const BuiltImage native = builder.add(amd);
  const nlohmann::json flat = nlohmann::json::parse(read_file(dir + "/index.json"));
  nlohmann::json nested = {{"schemaVersion", 2},
                           {"mediaType", "application/vnd.oci.image.index.v1+json"},
                           {"manifests", flat["manifests"]}};
  const std::string text = nested.dump();
  const std::string digest = "sha256:" + sha256_hex(text);
  write_file(builder.blob_path(digest), text);
  write_file(dir + "/index.json",
             nlohmann::json{{"schemaVersion", 2},
                            {"manifests",
                             {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                               {"digest", digest},
                               {"size", text.size()},
                               {"annotations", {{"org.opencontainers.image.ref.name", "multi"}}}}}}}
                 .dump());
  const StoredImage image = store_->import(dir + ":multi", "multi/arch:1");
  EXPECT_EQ(image.digest, native.manifest_digest);
  EXPECT_EQ(read_file(image.rootfs + "/arch"), "amd64");
}

TEST_F(ImageStoreTest, ResolvesByRefLatestAndDigest) {
  const StoredImage tagged =
      store_->import(layout(one_layer({LayerEntry::file("f", "1")})), "fnproject/hello:0.0.1");
  const StoredImage latest =
      store_->import(layout(one_layer({LayerEntry::file("f", "2")})), "fnproject/hello");
  EXPECT_EQ(latest.ref, "fnproject/hello:latest");

  std::string error;
  auto r = store_->resolve("fnproject/hello:0.0.1", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->digest, tagged.digest);
  EXPECT_EQ(r->rootfs, tagged.rootfs);
  EXPECT_EQ(r->size_bytes, 1u);

  r = store_->resolve("fnproject/hello", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->digest, latest.digest);
  EXPECT_EQ(r->ref, "fnproject/hello:latest");
  r = store_->resolve("fnproject/hello:latest", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->digest, latest.digest);

  r = store_->resolve("fnproject/hello@" + tagged.digest, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->rootfs, tagged.rootfs);
  EXPECT_EQ(r->ref, "fnproject/hello@" + tagged.digest);
  r = store_->resolve(tagged.digest, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->rootfs, tagged.rootfs);

  EXPECT_FALSE(store_->resolve("fnproject/hello:0.0.2", &error));
  EXPECT_EQ(error, "image not found: fnproject/hello:0.0.2");
  const std::string unknown_digest = "sha256:" + std::string(64, 'a');
  EXPECT_FALSE(store_->resolve("fnproject/hello@" + unknown_digest, &error));
  EXPECT_EQ(error, "image not found: fnproject/hello@" + unknown_digest);
  EXPECT_FALSE(store_->resolve("../../etc", &error));
  EXPECT_NE(error.find("invalid image reference"), std::string::npos) << error;

  // Another store object on the same directory (the worker's) sees it all.
  const ImageStore other(store_dir_);
  EXPECT_TRUE(other.resolve("fnproject/hello:0.0.1", nullptr));
}

TEST_F(ImageStoreTest, ListsEveryRef) {
  const std::string dir = layout(one_layer({LayerEntry::file("f", "same")}));
  store_->import(dir, "zeta/app:1");
  store_->import(dir, "alpha/app:2");
  store_->import(layout(one_layer({LayerEntry::file("f", "different")})), "localhost:5000/app");
  const std::vector<StoredImage> all = store_->list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].ref, "alpha/app:2");
  EXPECT_EQ(all[1].ref, "localhost:5000/app:latest");
  EXPECT_EQ(all[2].ref, "zeta/app:1");
  EXPECT_EQ(all[0].digest, all[2].digest);
  EXPECT_NE(all[0].digest, all[1].digest);
  EXPECT_EQ(all[1].size_bytes, 9u);
}

TEST_F(ImageStoreTest, RemoveDropsContentWithItsLastRef) {
  const std::string dir = layout(one_layer({LayerEntry::file("f", "x")}));
  const StoredImage a = store_->import(dir, "app/a:1");
  store_->import(dir, "app/b:1");
  EXPECT_TRUE(store_->remove("app/a:1"));
  EXPECT_FALSE(store_->resolve("app/a:1", nullptr));
  EXPECT_TRUE(exists(a.rootfs)) << "still used by app/b:1";
  EXPECT_TRUE(store_->resolve("app/b:1", nullptr));
  EXPECT_FALSE(store_->remove("app/a:1"));
  EXPECT_TRUE(store_->remove("app/b:1"));
  EXPECT_FALSE(exists(a.rootfs));
  expect_store_empty();
  EXPECT_FALSE(store_->remove("never/there"));
  EXPECT_THROW(store_->remove("bad ref"), ImageError);

  // By digest: every ref of that name pinned to it.
  store_->import(dir, "app/c:1");
  store_->import(dir, "app/c:2");
  EXPECT_TRUE(store_->remove("app/c@" + a.digest));
  expect_store_empty();
}

TEST_F(ImageStoreTest, ReimportReusesContentAndRetagMovesTheRef) {
  const std::string dir = layout(one_layer({LayerEntry::file("f", "x")}));
  const StoredImage first = store_->import(dir, "app/x:1");
  // A marker the store would lose if it unpacked again.
  write_file(first.rootfs + "/marker", "m");
  const StoredImage second = store_->import(dir, "app/x:1");
  EXPECT_EQ(second.rootfs, first.rootfs);
  EXPECT_EQ(second.size_bytes, first.size_bytes);
  EXPECT_TRUE(exists(first.rootfs + "/marker"));
  unlink((first.rootfs + "/marker").c_str());

  // The tag moves to new content; the old content, now unused, goes.
  const StoredImage moved =
      store_->import(layout(one_layer({LayerEntry::file("f", "y")})), "app/x:1");
  EXPECT_NE(moved.digest, first.digest);
  EXPECT_FALSE(exists(first.rootfs));
  EXPECT_EQ(dir_entries(store_dir_ + "/rootfs"),
            std::vector<std::string>{std::string(digest_hex(moved.digest))});
  EXPECT_EQ(store_->list().size(), 1u);
}

TEST_F(ImageStoreTest, CleansWhatACrashedImportLeft) {
  fs::create_directories(store_dir_ + "/tmp/import-dead/rootfs/a/b");
  store_->import(layout(one_layer({LayerEntry::file("f", "x")})), "app/x:1");
  EXPECT_EQ(dir_entries(store_dir_ + "/tmp"), std::vector<std::string>{});
}

TEST_F(ImageStoreTest, RefusesDigestAsImportName) {
  const std::string dir = layout(one_layer({LayerEntry::file("f", "x")}));
  EXPECT_THROW(store_->import(dir, "app@sha256:" + std::string(64, 'b')), ImageError);
  EXPECT_THROW(store_->import(dir, "Bad Name"), ImageError);
  expect_store_empty();
}

TEST_F(ImageStoreTest, BusyboxImageFromTheHost) {
  const std::string busybox = "/bin/busybox";
  if (access(busybox.c_str(), X_OK) != 0) GTEST_SKIP() << "install busybox-static";
  ImageSpec spec;
  spec.layers.push_back(test_support::busybox_layer(busybox));
  spec.layers.push_back(Layer{{LayerEntry::hardlink("bin/busybox-link", "bin/busybox")}});
  spec.entrypoint = {"/bin/busybox", "sh", "-c"};
  spec.cmd = {"echo hello"};
  spec.env = {"PATH=/bin"};
  const StoredImage image = import_spec(spec, "busybox:test");

  const std::string bin = image.rootfs + "/bin/busybox";
  ASSERT_TRUE(exists(bin));
  EXPECT_EQ(lstat_of(bin).st_size, lstat_of(busybox).st_size);
  EXPECT_EQ(access(bin.c_str(), X_OK), 0);
  EXPECT_EQ(fs::read_symlink(image.rootfs + "/bin/sh"), "busybox");
  EXPECT_EQ(lstat_of(image.rootfs + "/bin/busybox-link").st_ino, lstat_of(bin).st_ino);
  EXPECT_EQ(image.config.entrypoint, (std::vector<std::string>{"/bin/busybox", "sh", "-c"}));
  EXPECT_EQ(store_->resolve("busybox:test", nullptr)->config.entrypoint, image.config.entrypoint);
  // A static binary runs from anywhere: the unpacked bytes are intact.
  FILE* p = popen((bin + " echo unpacked").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[64] = {};
  const size_t n = fread(buf, 1, sizeof buf - 1, p);
  pclose(p);
  EXPECT_EQ(std::string(buf, n), "unpacked\n");
}

TEST(ImageRefTest, ParsesAndCanonicalises) {
  std::string error;
  auto r = parse_image_ref("fnproject/hello", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->canonical(), "fnproject/hello:latest");
  r = parse_image_ref("fnproject/hello:0.0.1", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->name, "fnproject/hello");
  EXPECT_EQ(r->tag, "0.0.1");
  r = parse_image_ref("localhost:5000/app", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->canonical(), "localhost:5000/app:latest");
  const std::string digest = "sha256:" + std::string(64, 'c');
  r = parse_image_ref("app:1@" + digest, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->canonical(), "app@" + digest);
  r = parse_image_ref(digest, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->canonical(), digest);

  for (const char* bad : {"", "/abs", "a//b", "../x", "a/../b", "a:", "a:-x", "a b", "a@sha256:12",
                          "a@md5:00", "host:port/x", ":tag"}) {
    EXPECT_FALSE(parse_image_ref(bad, &error)) << bad;
    EXPECT_NE(error.find("invalid image reference"), std::string::npos) << bad;
  }
}

TEST(ImageRefTest, FileNamesAreSafeAndDistinct) {
  const auto name = [](const char* text) { return ref_file_name(*parse_image_ref(text, nullptr)); };
  EXPECT_EQ(name("fnproject/hello:0.0.1"), "fnproject%2Fhello%3A0.0.1");
  EXPECT_NE(name("a/b:c"), name("a-b:c"));
  EXPECT_NE(name("localhost:5000/a"), name("localhost/5000:a"));
  EXPECT_NE(name("a/b"), name("a_b"));
  const std::string long_name = name(
      (std::string(200, 'a') + "/" + std::string(50, 'b') + ":" + std::string(100, 't')).c_str());
  EXPECT_LE(long_name.size(), 255u);
  EXPECT_EQ(long_name.find('/'), std::string::npos);
}

}  // namespace
}  // namespace fnr
