#pragma once
// The capacity ledger: how many MiB of the runner's memory are promised to
// calls (and, later, hot containers). It lives in POSIX shared memory (Boost
// .Interprocess) so that fn-runnerctl and tests in other processes can read
// it, and so that several processes can reserve at once.
//
// Crash safety: the ledger's lock is a robust, process-shared pthread mutex.
// If its holder dies, the next locker gets EOWNERDEAD, rebuilds the derived
// totals from the entries (entries are committed by their final state
// write), frees half-written entries, and marks the mutex consistent. No
// operation holds the lock across I/O. Entries whose owning process is dead
// (pid + process start time, so reused pids are not mistaken) are reclaimed
// by reap_dead_owners(), which reserve() also runs before it says no.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fnr {

enum class ReservationState : uint8_t {
  kFree = 0,
  kClaiming = 1,  // being written; never visible as reserved
  kReserved = 2,  // capacity held, no worker yet
  kRunning = 3,   // a worker runs the call
  kIdle = 4,      // a hot container holds it between calls (later)
};
[[nodiscard]] std::string_view reservation_state_name(ReservationState s);

struct ReservationId {
  uint32_t slot = 0;
  uint32_t generation = 0;  // guards against releasing a reused slot
};

struct ReservationView {
  ReservationId id;
  std::string call_id;
  uint32_t mib = 0;
  pid_t owner_pid = 0;
  ReservationState state = ReservationState::kFree;
  int64_t start_unix_ms = 0;
  std::string label;   // e.g. a container's image
  uint32_t calls = 0;  // calls served by the container holding it
};

struct LedgerSnapshot {
  uint64_t total_mib = 0;
  uint64_t reserved_mib = 0;
  std::vector<ReservationView> entries;  // only non-free ones
};

class Ledger {
 public:
  // Creates (replacing any stale segment of that name) a ledger with
  // `total_mib` capacity and room for `max_entries` reservations.
  static std::unique_ptr<Ledger> create(const std::string& name, uint64_t total_mib,
                                        uint32_t max_entries);
  // Opens an existing ledger; nullptr with `error` set if there is none.
  static std::unique_ptr<Ledger> open(const std::string& name, std::string* error);
  // Removes the shared memory object (the creator calls it on clean exit).
  static void remove(const std::string& name);

  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Atomic check-and-reserve. nullopt when `mib` does not fit (after
  // reclaiming dead owners) or no entry is free; then nothing was reserved.
  // `owner` is the process that holds it (0 = the caller).
  std::optional<ReservationId> reserve(std::string_view call_id, uint32_t mib, pid_t owner = 0);
  // Hands the reservation to another process (the worker) and state.
  bool set_owner(ReservationId id, pid_t owner, ReservationState state);
  // Changes only the state (idle <-> running of a hot container): no /proc
  // read, so it is cheap enough for every call.
  bool set_state(ReservationId id, ReservationState state);
  // Updates what an entry says about its holder (the call it runs now, a
  // label such as the image, calls served); false for a stale id.
  bool label(ReservationId id, std::string_view call_id, std::string_view text, uint32_t calls);
  // Idempotent: releasing twice, or after a reap, is a no-op returning false.
  bool release(ReservationId id);
  // Releases every entry whose owner process is gone; returns how many.
  uint32_t reap_dead_owners();

  [[nodiscard]] LedgerSnapshot snapshot() const;
  [[nodiscard]] uint64_t total_mib() const;
  [[nodiscard]] uint64_t reserved_mib() const;

  // TEST SEAM ONLY; nothing in the runner may call it. Takes the ledger lock
  // and returns without releasing it, so a test can SIGKILL this process at
  // the worst instant. With `half_reserve_mib` > 0 it also leaves behind what
  // a reserve() killed midway would: an entry still being written and
  // reserved_mib already raised by that amount. The calling process must
  // die afterwards: any further use of the ledger from this thread deadlocks.
  void lock_for_test(uint32_t half_reserve_mib = 0);

 private:
  struct Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Total capacity when the config gives none: the runner's cgroup memory
// limit (v1 or v2) if it has one, else the host's memory.
[[nodiscard]] uint64_t detect_total_memory_bytes();
// The same, with every path (/proc/self/cgroup, /proc/meminfo,
// /sys/fs/cgroup/...) read below `root` instead of "/", so tests can stage a
// fake tree. Throws std::runtime_error if not even MemTotal can be read.
[[nodiscard]] uint64_t detect_total_memory_bytes(const std::string& root);

}  // namespace fnr
