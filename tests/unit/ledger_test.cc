#include "shared/ledger.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>

#include "shared/unique_fd.h"

namespace fnr {
namespace {

namespace bip = boost::interprocess;
namespace fs = std::filesystem;

std::string test_name() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

// A forked child running `body`; its return value is the exit code. The
// destructor kills and reaps it, so a failing assertion in the parent never
// leaves a process behind holding the ledger.
class Child {
 public:
  explicit Child(const std::function<int()>& body) : pid_(::fork()) {
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      int code = 100;
      try {
        code = body();
      } catch (...) {
        code = 101;
      }
      ::_exit(code);  // no gtest or static destructors in the child
    }
  }
  ~Child() {
    if (pid_ > 0) kill_and_wait();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }

  // The raw wait status.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  // It was reaped elsewhere.
  void forget() { pid_ = -1; }
  int kill_and_wait() {
    ::kill(pid_, SIGKILL);
    return wait();
  }

 private:
  pid_t pid_;
};

// A one-byte "I am ready" signal from a child to the parent, so no test
// relies on sleeps to know where the child is.
class ReadySignal {
 public:
  ReadySignal() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    read_.reset(fds[0]);
    write_.reset(fds[1]);
  }
  void notify() const {
    const char byte = 1;
    (void)!::write(write_.get(), &byte, 1);
  }
  // In the parent, after fork: false if the child died without notifying.
  bool await() {
    write_.reset();  // else a dead child would not produce EOF
    char byte = 0;
    ssize_t n;
    do {
      n = ::read(read_.get(), &byte, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1;
  }

 private:
  UniqueFd read_;
  UniqueFd write_;
};

// Holds forked children until the parent opens it, so they all start at once.
class StartGate {
 public:
  StartGate() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    read_.reset(fds[0]);
    write_.reset(fds[1]);
  }
  // In a child: blocks until the parent opens the gate (EOF on the pipe).
  bool pass() {
    write_.reset();  // our copy of the write end would keep EOF from coming
    char byte = 0;
    ssize_t n;
    do {
      n = ::read(read_.get(), &byte, 1);
    } while (n < 0 && errno == EINTR);
    return n == 0;
  }
  // In the parent, once every child is forked.
  void open() { write_.reset(); }

 private:
  UniqueFd read_;
  UniqueFd write_;
};

[[noreturn]] void block_forever() {
  for (;;) ::pause();
}

// Runs `body` in a child and says whether it exited 0 within `limit`: a
// ledger whose lock stayed wedged must fail the test, not hang it.
bool completes_within(std::chrono::seconds limit, const std::function<int()>& body) {
  Child child(body);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(child.pid(), &status, WNOHANG) == child.pid()) {
      child.forget();
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling a deadline, not syncing
  }
  return false;
}

bool exited_cleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
bool was_sigkilled(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

// reserved_mib must always equal what the committed entries add up to.
void expect_consistent(const LedgerSnapshot& snap) {
  uint64_t sum = 0;
  for (const auto& e : snap.entries) {
    sum += e.mib;
    EXPECT_TRUE(e.state == ReservationState::kReserved || e.state == ReservationState::kRunning ||
                e.state == ReservationState::kIdle)
        << "slot " << e.id.slot << " is " << reservation_state_name(e.state);
  }
  EXPECT_EQ(snap.reserved_mib, sum);
  EXPECT_LE(snap.reserved_mib, snap.total_mib);
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "fnr-ledger-test-" + std::to_string(::getpid()) + "-" + test_name();
  }
  void TearDown() override { Ledger::remove(name_); }

  std::unique_ptr<Ledger> make(uint64_t total_mib, uint32_t max_entries) {
    return Ledger::create(name_, total_mib, max_entries);
  }

  std::string name_;
};

TEST_F(LedgerTest, ReserveAndRelease) {
  auto ledger = make(1000, 16);
  EXPECT_EQ(ledger->total_mib(), 1000U);
  EXPECT_EQ(ledger->reserved_mib(), 0U);

  const auto a = ledger->reserve("call-a", 300);
  const auto b = ledger->reserve("call-b", 200);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(ledger->reserved_mib(), 500U);

  EXPECT_TRUE(ledger->release(*a));
  EXPECT_EQ(ledger->reserved_mib(), 200U);
  EXPECT_FALSE(ledger->release(*a)) << "a second release must be a no-op";
  EXPECT_EQ(ledger->reserved_mib(), 200U);
  EXPECT_TRUE(ledger->release(*b));
  EXPECT_EQ(ledger->reserved_mib(), 0U);
}

TEST_F(LedgerTest, StaleIdDoesNotReleaseTheSlotsNextReservation) {
  auto ledger = make(1000, 1);
  const auto old_id = ledger->reserve("old", 100);
  ASSERT_TRUE(old_id);
  ASSERT_TRUE(ledger->release(*old_id));
  const auto new_id = ledger->reserve("new", 250);
  ASSERT_TRUE(new_id);
  ASSERT_EQ(new_id->slot, old_id->slot);
  EXPECT_NE(new_id->generation, old_id->generation);

  EXPECT_FALSE(ledger->release(*old_id));
  EXPECT_FALSE(ledger->release(ReservationId{}));
  EXPECT_FALSE(ledger->release(ReservationId{.slot = 7, .generation = new_id->generation}));
  EXPECT_EQ(ledger->reserved_mib(), 250U);
}

TEST_F(LedgerTest, OverCommitIsRefusedAndReservesNothing) {
  auto ledger = make(1000, 16);
  ASSERT_TRUE(ledger->reserve("a", 600));
  EXPECT_FALSE(ledger->reserve("b", 401));
  EXPECT_FALSE(ledger->reserve("huge", 5000));
  EXPECT_EQ(ledger->reserved_mib(), 600U);
  EXPECT_EQ(ledger->snapshot().entries.size(), 1U);

  EXPECT_TRUE(ledger->reserve("exact-fit", 400));
  EXPECT_EQ(ledger->reserved_mib(), 1000U);
  EXPECT_FALSE(ledger->reserve("one-more", 1));
  EXPECT_EQ(ledger->snapshot().entries.size(), 2U);
}

TEST_F(LedgerTest, RefusesWhenEntriesAreFull) {
  auto ledger = make(1000, 3);
  std::vector<ReservationId> ids;
  for (int i = 0; i < 3; ++i) {
    const auto id = ledger->reserve("c" + std::to_string(i), 10);
    ASSERT_TRUE(id);
    ids.push_back(*id);
  }
  EXPECT_FALSE(ledger->reserve("c3", 10));
  EXPECT_EQ(ledger->reserved_mib(), 30U);

  ASSERT_TRUE(ledger->release(ids[1]));
  EXPECT_TRUE(ledger->reserve("c4", 10));
  EXPECT_EQ(ledger->reserved_mib(), 30U);
}

TEST_F(LedgerTest, SnapshotShowsEveryReservation) {
  auto ledger = make(1000, 8);
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t before = now_ms();
  const std::string exact(64, 'x');
  const std::string too_long = std::string(64, 'y') + "-tail";
  const auto a = ledger->reserve("01ARZ3NDEKTSV4RRFFQ69G5FAV", 128);
  const auto b = ledger->reserve(exact, 64);
  const auto c = ledger->reserve(too_long, 32);
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(ledger->set_owner(*b, 0, ReservationState::kRunning));
  ASSERT_TRUE(ledger->release(*c));
  const int64_t after = now_ms();

  const LedgerSnapshot snap = ledger->snapshot();
  EXPECT_EQ(snap.total_mib, 1000U);
  EXPECT_EQ(snap.reserved_mib, 192U);
  ASSERT_EQ(snap.entries.size(), 2U);
  expect_consistent(snap);
  for (const ReservationView& e : snap.entries) {
    EXPECT_EQ(e.owner_pid, ::getpid());
    EXPECT_GE(e.start_unix_ms, before);
    EXPECT_LE(e.start_unix_ms, after);
    if (e.id.slot == a->slot) {
      EXPECT_EQ(e.id.generation, a->generation);
      EXPECT_EQ(e.call_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
      EXPECT_EQ(e.mib, 128U);
      EXPECT_EQ(e.state, ReservationState::kReserved);
    } else {
      EXPECT_EQ(e.id.slot, b->slot);
      EXPECT_EQ(e.call_id, exact);
      EXPECT_EQ(e.mib, 64U);
      EXPECT_EQ(e.state, ReservationState::kRunning);
    }
  }

  const auto d = ledger->reserve(too_long, 1);
  ASSERT_TRUE(d);
  for (const ReservationView& e : ledger->snapshot().entries) {
    if (e.id.slot == d->slot) {
      EXPECT_EQ(e.call_id, too_long.substr(0, 64));
    }
  }
}

TEST_F(LedgerTest, StateNamesAreStable) {
  EXPECT_EQ(reservation_state_name(ReservationState::kFree), "free");
  EXPECT_EQ(reservation_state_name(ReservationState::kClaiming), "claiming");
  EXPECT_EQ(reservation_state_name(ReservationState::kReserved), "reserved");
  EXPECT_EQ(reservation_state_name(ReservationState::kRunning), "running");
  EXPECT_EQ(reservation_state_name(ReservationState::kIdle), "idle");
}

TEST_F(LedgerTest, SetOwnerRefusesStaleIdsAndNonHoldingStates) {
  auto ledger = make(1000, 4);
  const auto id = ledger->reserve("a", 100);
  ASSERT_TRUE(id);
  EXPECT_FALSE(ledger->set_owner(*id, 0, ReservationState::kFree));
  EXPECT_FALSE(ledger->set_owner(*id, 0, ReservationState::kClaiming));
  EXPECT_TRUE(ledger->set_owner(*id, 0, ReservationState::kIdle));
  ASSERT_TRUE(ledger->release(*id));
  EXPECT_FALSE(ledger->set_owner(*id, 0, ReservationState::kRunning));
  EXPECT_EQ(ledger->reserved_mib(), 0U);
}

TEST_F(LedgerTest, OpenSharesTheCreatorsLedger) {
  auto creator = make(1000, 8);
  std::string error;
  auto other = Ledger::open(name_, &error);
  ASSERT_TRUE(other) << error;
  EXPECT_EQ(other->total_mib(), 1000U);

  const auto id = other->reserve("via-open", 300);
  ASSERT_TRUE(id);
  EXPECT_EQ(creator->reserved_mib(), 300U);
  EXPECT_TRUE(creator->release(*id));
  EXPECT_EQ(other->reserved_mib(), 0U);
}

TEST_F(LedgerTest, CreateReplacesAStaleSegment) {
  {
    auto stale = make(1000, 8);
    ASSERT_TRUE(stale->reserve("left-behind", 700));
  }
  auto fresh = make(500, 4);
  EXPECT_EQ(fresh->total_mib(), 500U);
  EXPECT_EQ(fresh->reserved_mib(), 0U);
  EXPECT_TRUE(fresh->snapshot().entries.empty());
}

TEST_F(LedgerTest, CreateRejectsBadArguments) {
  EXPECT_THROW(make(1000, 0), std::invalid_argument);
  try {
    (void)Ledger::create("bad/name/" + name_, 1000, 4);
    FAIL() << "a name with slashes is not a valid POSIX shm name";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad/name/" + name_), std::string::npos) << e.what();
  }
}

TEST_F(LedgerTest, OpenOfAMissingLedgerFailsCleanly) {
  std::string error;
  EXPECT_EQ(Ledger::open(name_, &error), nullptr);
  EXPECT_NE(error.find(name_), std::string::npos) << error;
  EXPECT_NE(error.find("no such ledger"), std::string::npos) << error;
  EXPECT_EQ(Ledger::open(name_, nullptr), nullptr);
}

// Writes a shared memory object of `size` bytes of `fill`, bypassing Ledger.
void write_raw_segment(const std::string& name, size_t size, unsigned char fill) {
  bip::shared_memory_object::remove(name.c_str());
  bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write);
  shm.truncate(static_cast<bip::offset_t>(size));
  bip::mapped_region region(shm, bip::read_write);
  std::memset(region.get_address(), fill, region.get_size());
}

TEST_F(LedgerTest, OpenOfGarbageFailsCleanly) {
  std::string error;
  write_raw_segment(name_, size_t{64} * 1024, 0xAB);
  EXPECT_EQ(Ledger::open(name_, &error), nullptr);
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;

  write_raw_segment(name_, 16, 0);
  EXPECT_EQ(Ledger::open(name_, &error), nullptr);
  EXPECT_NE(error.find("too small"), std::string::npos) << error;

  write_raw_segment(name_, size_t{64} * 1024, 0);
  EXPECT_EQ(Ledger::open(name_, &error), nullptr);
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;
}

TEST_F(LedgerTest, OpenOfAWrongSizedLedgerFailsCleanly) {
  make(1000, 8).reset();
  bip::offset_t size = 0;
  {
    bip::shared_memory_object shm(bip::open_only, name_.c_str(), bip::read_write);
    ASSERT_TRUE(shm.get_size(size));
    shm.truncate(size + 4096);
  }
  std::string error;
  EXPECT_EQ(Ledger::open(name_, &error), nullptr);
  EXPECT_NE(error.find("expected " + std::to_string(size)), std::string::npos) << error;

  {
    bip::shared_memory_object shm(bip::open_only, name_.c_str(), bip::read_write);
    shm.truncate(size - 1);
  }
  EXPECT_EQ(Ledger::open(name_, &error), nullptr);
  EXPECT_NE(error.find("expected " + std::to_string(size)), std::string::npos) << error;
}

// Counters the children of the concurrency test share with the parent.
struct SharedStats {
  std::atomic<int64_t> held_mib;  // what callers hold by their own count
  std::atomic<uint64_t> max_held_mib;
  std::atomic<uint64_t> max_reserved_mib;
  std::atomic<uint64_t> granted;
  std::atomic<uint64_t> refused;
};

void raise_to(std::atomic<uint64_t>& max, uint64_t value) {
  uint64_t seen = max.load();
  while (value > seen && !max.compare_exchange_weak(seen, value)) {
  }
}

class SharedMapping {
 public:
  explicit SharedMapping(size_t size)
      : size_(size),
        addr_(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
    if (addr_ == MAP_FAILED) throw std::runtime_error("mmap failed");
  }
  ~SharedMapping() { ::munmap(addr_, size_); }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  [[nodiscard]] void* get() const { return addr_; }

 private:
  size_t size_;
  void* addr_;
};

TEST_F(LedgerTest, ManyProcessesReservingAtOnceNeverOverCommit) {
  constexpr uint64_t kTotal = 1000;
  constexpr int kChildren = 8;
  constexpr int kIterations = 2000;
  auto ledger = make(kTotal, 64);
  SharedMapping mapping(sizeof(SharedStats));
  auto* stats = new (mapping.get()) SharedStats{};
  StartGate gate;  // children start together, to maximise contention

  std::vector<std::unique_ptr<Child>> children;
  children.reserve(kChildren);
  for (int c = 0; c < kChildren; ++c) {
    children.push_back(std::make_unique<Child>([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c) * 7919U + 1);
      std::uniform_int_distribution<uint32_t> size(1, 300);
      if (!gate.pass()) return 2;
      for (int i = 0; i < kIterations; ++i) {
        const uint32_t mib = size(rng);
        const auto id = ledger->reserve("child-" + std::to_string(c), mib);
        if (!id) {
          stats->refused.fetch_add(1);
          continue;
        }
        stats->granted.fetch_add(1);
        // An independent count of what is held: even a ledger whose own
        // total were wrong could not hide an over-commit from this.
        raise_to(stats->max_held_mib, static_cast<uint64_t>(stats->held_mib.fetch_add(mib) + mib));
        raise_to(stats->max_reserved_mib, ledger->reserved_mib());
        if (i % 8 == 0) std::this_thread::yield();
        stats->held_mib.fetch_sub(mib);
        if (!ledger->release(*id)) return 3;
      }
      return 0;
    }));
  }
  gate.open();
  for (auto& child : children) EXPECT_TRUE(exited_cleanly(child->wait()));

  EXPECT_LE(stats->max_held_mib.load(), kTotal);
  EXPECT_LE(stats->max_reserved_mib.load(), kTotal);
  EXPECT_GT(stats->granted.load(), 0U);
  EXPECT_GT(stats->refused.load(), 0U) << "the test never ran the ledger out of capacity";
  EXPECT_EQ(stats->held_mib.load(), 0);
  EXPECT_EQ(ledger->reserved_mib(), 0U);
  EXPECT_TRUE(ledger->snapshot().entries.empty());
  ::testing::Test::RecordProperty("granted", std::to_string(stats->granted.load()));
  ::testing::Test::RecordProperty("refused", std::to_string(stats->refused.load()));
}

TEST_F(LedgerTest, CapacityReturnsWhenAHolderIsSigkilled) {
  auto ledger = make(1000, 8);
  ReadySignal ready;
  Child holder([&] {
    if (!ledger->reserve("doomed", 1000)) return 1;
    ready.notify();
    block_forever();
  });
  ASSERT_TRUE(ready.await());
  EXPECT_EQ(ledger->reserved_mib(), 1000U);
  EXPECT_FALSE(ledger->reserve("meanwhile", 1)) << "the holder is alive: nothing to reap";

  EXPECT_TRUE(was_sigkilled(holder.kill_and_wait()));
  EXPECT_EQ(ledger->reap_dead_owners(), 1U);
  EXPECT_EQ(ledger->reserved_mib(), 0U);
  const auto all = ledger->reserve("after", 1000);
  EXPECT_TRUE(all);
  EXPECT_EQ(ledger->reap_dead_owners(), 0U);
}

TEST_F(LedgerTest, ReserveReapsDeadOwnersBeforeRefusing) {
  auto ledger = make(1000, 1);  // the dead holder also holds the only entry
  ReadySignal ready;
  Child holder([&] {
    if (!ledger->reserve("doomed", 600)) return 1;
    ready.notify();
    block_forever();
  });
  ASSERT_TRUE(ready.await());
  EXPECT_TRUE(was_sigkilled(holder.kill_and_wait()));
  EXPECT_TRUE(ledger->reserve("after", 1000));
  EXPECT_EQ(ledger->reserved_mib(), 1000U);
}

TEST_F(LedgerTest, AZombieOwnerCountsAsDead) {
  auto ledger = make(1000, 8);
  Child holder([&] { return ledger->reserve("leaked", 400) ? 0 : 1; });
  // Wait for the exit but leave the child a zombie (WNOWAIT): its parent has
  // not reaped it yet, yet it holds no memory any more.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(holder.pid()), &info, WEXITED | WNOWAIT), 0);
  ASSERT_EQ(info.si_status, 0);
  EXPECT_EQ(ledger->reap_dead_owners(), 1U);
  EXPECT_EQ(ledger->reserved_mib(), 0U);
}

TEST_F(LedgerTest, ReservationsHandedToLiveProcessesSurviveReaping) {
  auto ledger = make(1000, 8);
  ReadySignal ready;
  Child worker([&]() -> int {
    ready.notify();
    block_forever();
  });
  ASSERT_TRUE(ready.await());
  const auto mine = ledger->reserve("mine", 100);
  const auto theirs = ledger->reserve("theirs", 200, worker.pid());
  const auto handed = ledger->reserve("handed", 300);
  ASSERT_TRUE(mine && theirs && handed);
  ASSERT_TRUE(ledger->set_owner(*handed, worker.pid(), ReservationState::kRunning));
  EXPECT_EQ(ledger->reap_dead_owners(), 0U);
  EXPECT_EQ(ledger->reserved_mib(), 600U);

  EXPECT_TRUE(was_sigkilled(worker.kill_and_wait()));
  EXPECT_EQ(ledger->reap_dead_owners(), 2U);
  EXPECT_EQ(ledger->reserved_mib(), 100U);
  EXPECT_FALSE(ledger->release(*handed)) << "the reap already released it";
  EXPECT_TRUE(ledger->release(*mine));
}

TEST_F(LedgerTest, ReservationForAProcessThatIsAlreadyGoneIsReaped) {
  auto ledger = make(1000, 8);
  Child gone([] { return 0; });
  const pid_t pid = gone.pid();
  ASSERT_TRUE(exited_cleanly(gone.wait()));
  ASSERT_TRUE(ledger->reserve("orphan", 100, pid));
  EXPECT_EQ(ledger->reap_dead_owners(), 1U);
  EXPECT_EQ(ledger->reserved_mib(), 0U);
}

TEST_F(LedgerTest, HolderKilledWhileHoldingTheLock) {
  auto ledger = make(1000, 8);
  ASSERT_TRUE(ledger->reserve("parent", 100));
  ReadySignal locked;
  Child holder([&]() -> int {
    ledger->lock_for_test();
    locked.notify();
    block_forever();
  });
  ASSERT_TRUE(locked.await());
  EXPECT_TRUE(was_sigkilled(holder.kill_and_wait()));

  ASSERT_TRUE(completes_within(std::chrono::seconds(10), [&] {
    return ledger->reserved_mib() == 100 ? 0 : 1;
  })) << "the lock of a killed holder was not recovered";
  EXPECT_EQ(ledger->reserved_mib(), 100U);
  EXPECT_TRUE(ledger->reserve("after", 900));
  expect_consistent(ledger->snapshot());
  EXPECT_EQ(ledger->reserved_mib(), 1000U);
}

TEST_F(LedgerTest, HolderKilledHalfwayThroughAReservation) {
  auto ledger = make(1000, 8);
  ASSERT_TRUE(ledger->reserve("parent", 100));
  ReadySignal locked;
  Child holder([&]() -> int {
    ledger->lock_for_test(/*half_reserve_mib=*/300);
    locked.notify();
    block_forever();
  });
  ASSERT_TRUE(locked.await());
  EXPECT_TRUE(was_sigkilled(holder.kill_and_wait()));
  ASSERT_TRUE(completes_within(std::chrono::seconds(10), [&] {
    const auto probe = ledger->reserve("probe", 1);
    return probe && ledger->release(*probe) ? 0 : 1;
  })) << "the lock of a killed holder was not recovered";

  // The half-written entry and its 300 MiB must be gone, not leaked.
  const LedgerSnapshot snap = ledger->snapshot();
  expect_consistent(snap);
  EXPECT_EQ(snap.reserved_mib, 100U);
  ASSERT_EQ(snap.entries.size(), 1U);
  EXPECT_EQ(snap.entries[0].call_id, "parent");
  EXPECT_TRUE(ledger->reserve("after", 900));
}

// Kills a busy child at random instants, often inside the lock or halfway
// through writing an entry; every time, the ledger must stay consistent and
// all of the child's capacity must come back.
TEST_F(LedgerTest, RandomSigkillsNeverCorruptTheLedger) {
  constexpr int kRounds = 25;
  auto ledger = make(1000, 8);
  ASSERT_TRUE(ledger->reserve("parent", 100));
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_us(0, 3000);
  for (int round = 0; round < kRounds; ++round) {
    ReadySignal started;
    Child busy([&]() -> int {
      std::mt19937 child_rng(static_cast<unsigned>(::getpid()));
      std::uniform_int_distribution<uint32_t> size(1, 400);
      std::vector<ReservationId> held;
      for (uint64_t i = 0;; ++i) {
        if (const auto id = ledger->reserve("busy", size(child_rng))) held.push_back(*id);
        if (held.size() > 2 || (!held.empty() && i % 3 == 0)) {
          ledger->set_owner(held.front(), 0, ReservationState::kRunning);
          ledger->release(held.front());
          held.erase(held.begin());
        }
        if (i == 0) started.notify();
      }
    });
    ASSERT_TRUE(started.await());
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));  // a random kill point
    ASSERT_TRUE(was_sigkilled(busy.kill_and_wait()));

    expect_consistent(ledger->snapshot());
    ledger->reap_dead_owners();
    const LedgerSnapshot after = ledger->snapshot();
    expect_consistent(after);
    ASSERT_EQ(after.reserved_mib, 100U) << "round " << round;
    ASSERT_EQ(after.entries.size(), 1U) << "round " << round;
  }
  EXPECT_TRUE(ledger->reserve("full", 900));
}

// --- detect_total_memory_bytes ----------------------------------------------

class LedgerMemoryDetectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("fnr-memdetect-" + std::to_string(::getpid()) + "-" + test_name());
    fs::remove_all(root_);
    write("proc/meminfo", "MemTotal:        1048576 kB\nMemFree:          524288 kB\n");
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& relative, const std::string& content) {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
  }
  uint64_t detect() { return detect_total_memory_bytes(root_.string()); }

  static constexpr uint64_t kHost = 1048576ULL * 1024;  // the fake MemTotal
  static constexpr uint64_t kMiB = 1024ULL * 1024;
  fs::path root_;
};

TEST_F(LedgerMemoryDetectTest, NoCgroupMeansMemTotal) { EXPECT_EQ(detect(), kHost); }

TEST_F(LedgerMemoryDetectTest, CgroupV1Limit) {
  write("proc/self/cgroup", "5:cpu,cpuacct:/\n4:memory:/runner/a\n0::/\n");
  write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  write("sys/fs/cgroup/memory/runner/a/memory.limit_in_bytes", std::to_string(512 * kMiB) + "\n");
  EXPECT_EQ(detect(), 512 * kMiB);
}

TEST_F(LedgerMemoryDetectTest, CgroupV1UnlimitedMeansMemTotal) {
  write("proc/self/cgroup", "4:memory:/runner/a\n0::/\n");
  write("sys/fs/cgroup/memory/runner/a/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(detect(), kHost);
}

TEST_F(LedgerMemoryDetectTest, CgroupV1AncestorLimitApplies) {
  write("proc/self/cgroup", "4:memory:/runner/a\n");
  write("sys/fs/cgroup/memory/runner/memory.limit_in_bytes", std::to_string(256 * kMiB));
  write("sys/fs/cgroup/memory/runner/a/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(detect(), 256 * kMiB);
}

TEST_F(LedgerMemoryDetectTest, CgroupV2Limit) {
  write("proc/self/cgroup", "0::/system.slice/fn-runner.service\n");
  write("sys/fs/cgroup/system.slice/fn-runner.service/memory.max", std::to_string(300 * kMiB));
  EXPECT_EQ(detect(), 300 * kMiB);
}

TEST_F(LedgerMemoryDetectTest, CgroupV2MaxMeansMemTotal) {
  write("proc/self/cgroup", "0::/system.slice/fn-runner.service\n");
  write("sys/fs/cgroup/system.slice/fn-runner.service/memory.max", "max\n");
  EXPECT_EQ(detect(), kHost);
}

TEST_F(LedgerMemoryDetectTest, NothingReadableThrows) {
  fs::remove(root_ / "proc/meminfo");
  EXPECT_THROW((void)detect(), std::runtime_error);
}

TEST_F(LedgerMemoryDetectTest, ThisMachineReportsAPlausibleFigure) {
  const uint64_t bytes = detect_total_memory_bytes();
  EXPECT_GT(bytes, 16 * kMiB);
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  meminfo >> key >> kib;
  ASSERT_EQ(key, "MemTotal:");
  EXPECT_LE(bytes, kib * 1024);
}

}  // namespace
}  // namespace fnr
