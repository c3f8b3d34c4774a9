#include "shared/ledger.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "shared/unique_fd.h"

namespace fnr {

namespace bip = boost::interprocess;

namespace {

// "FNRLEDG1" read as a little-endian integer; any other value means the
// segment is not ours (or not finished being created).
constexpr uint64_t kMagic = 0x3147'4445'4c52'4e46ULL;
// Bump on any change to Header or Entry: processes of different builds must
// refuse each other's segments rather than misread them.
constexpr uint32_t kLayoutVersion = 2;
constexpr size_t kCallIdBytes = 64;
// Bounds the segment size (and every linear scan under the lock).
constexpr uint32_t kMaxEntriesLimit = 1U << 16;

struct OwnerRecord {
  pid_t pid = 0;
  uint32_t padding = 0;
  uint64_t start_time = 0;  // field 22 of /proc/PID/stat; 0 when it could not be read

  bool operator==(const OwnerRecord&) const = default;
};

struct Entry {
  // The commit point of a reservation: stored last, with release order, so
  // an entry only counts once everything else about it is in place.
  std::atomic<uint8_t> state;
  // Which of owners[] is current. A hand-off writes the other record and
  // then flips this byte, so a holder killed mid-hand-off never leaves a pid
  // paired with another process's start time.
  std::atomic<uint8_t> owner_index;
  uint8_t padding[2];
  uint32_t generation;
  uint32_t mib;
  uint32_t padding2;
  int64_t start_unix_ms;
  OwnerRecord owners[2];
  char call_id[kCallIdBytes];  // NUL-terminated unless exactly kCallIdBytes long
  // What holds the capacity, for operators: a container's image, and how
  // many calls it served (hot containers keep their reservation).
  char label[kCallIdBytes];
  uint32_t calls;
  uint32_t padding3;
};

struct Header {
  // Stored last by create(), so open() never trusts a half-built header.
  std::atomic<uint64_t> magic;
  uint32_t layout_version;
  uint32_t header_bytes;
  uint32_t entry_bytes;
  uint32_t max_entries;
  uint64_t total_mib;
  // Derived from the entries; rebuilt from them after a holder's death.
  uint64_t reserved_mib;
  // Free-slot searches start here so that slots are reused round-robin,
  // which keeps a stale ReservationId's generation from matching soon.
  uint32_t next_slot;
  uint32_t padding;
  pthread_mutex_t mutex;
};

static_assert(std::atomic<uint8_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "atomics in shared memory must not hide a process-local lock");

constexpr size_t kEntriesOffset = (sizeof(Header) + 63) / 64 * 64;

constexpr size_t segment_bytes(uint32_t max_entries) {
  return kEntriesOffset + static_cast<size_t>(max_entries) * sizeof(Entry);
}

bool counts(ReservationState s) {
  return s == ReservationState::kReserved || s == ReservationState::kRunning ||
         s == ReservationState::kIdle;
}

ReservationState state_of(const Entry& e) {
  return static_cast<ReservationState>(e.state.load(std::memory_order_acquire));
}

void commit_state(Entry& e, ReservationState s) {
  e.state.store(static_cast<uint8_t>(s), std::memory_order_release);
}

const OwnerRecord& current_owner(const Entry& e) {
  return e.owners[e.owner_index.load(std::memory_order_acquire) & 1U];
}

int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// --- /proc ------------------------------------------------------------------

struct ProcStat {
  char state = '?';
  uint64_t start_time = 0;
};

// nullopt with errno set when the process's stat file cannot be read.
std::optional<ProcStat> read_proc_stat(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[1024];
  const ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
  if (n < 0) return std::nullopt;
  if (n == 0) {
    errno = ESRCH;  // the task went away between open() and read()
    return std::nullopt;
  }
  errno = EINVAL;  // for the parse failures below
  const std::string_view text(buf, static_cast<size_t>(n));
  // comm (field 2) may itself contain spaces and ')': fields resume after the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  ProcStat out;
  for (int field = 3; field <= 22; ++field) {
    const size_t begin = rest.find_first_not_of(' ');
    if (begin == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(begin);
    const size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view value = rest.substr(0, end);
    if (field == 3) out.state = value.front();
    if (field == 22 &&
        std::from_chars(value.data(), value.data() + value.size(), out.start_time).ec !=
            std::errc()) {
      return std::nullopt;
    }
    rest.remove_prefix(end);
  }
  return out;
}

uint64_t start_time_of(pid_t pid) {
  const auto st = read_proc_stat(pid);
  return st ? st->start_time : 0;
}

// The caller's own identity, cached per thread (no locking needed) and keyed
// by pid so that a forked child does not inherit its parent's.
OwnerRecord self_owner() {
  thread_local OwnerRecord cached;
  const pid_t pid = ::getpid();
  if (cached.pid != pid) cached = OwnerRecord{.pid = pid, .start_time = start_time_of(pid)};
  return cached;
}

// Reads /proc: never call with the ledger lock held.
OwnerRecord resolve_owner(pid_t owner) {
  if (owner < 0) throw std::invalid_argument("ledger: negative owner pid " + std::to_string(owner));
  if (owner == 0 || owner == ::getpid()) return self_owner();
  return OwnerRecord{.pid = owner, .start_time = start_time_of(owner)};
}

// Reads /proc: never call with the ledger lock held.
bool owner_alive(const OwnerRecord& owner) {
  if (owner.pid <= 0) return false;
  if (::kill(owner.pid, 0) != 0 && errno == ESRCH) return false;
  const auto st = read_proc_stat(owner.pid);
  // kill() said it exists; only a vanished /proc entry proves otherwise (a
  // foreign pid namespace or hidepid may hide a live one).
  if (!st) return errno != ENOENT && errno != ESRCH;
  // A zombie holds no memory; its parent just has not waited for it yet.
  if (st->state == 'Z' || st->state == 'X') return false;
  // A different start time means the pid was reused by an unrelated process.
  return owner.start_time == 0 || st->start_time == owner.start_time;
}

// --- the segment and its lock ---------------------------------------------

struct Segment {
  Header* header = nullptr;
  Entry* entries = nullptr;

  [[nodiscard]] uint32_t size() const { return header->max_entries; }
  Entry& operator[](uint32_t slot) const { return entries[slot]; }

  // The entry `id` names, if it is still the same live reservation.
  [[nodiscard]] Entry* live(ReservationId id) const {
    if (id.slot >= size()) return nullptr;
    Entry& e = entries[id.slot];
    if (e.generation != id.generation || !counts(state_of(e))) return nullptr;
    return &e;
  }
};

// A holder died with the lock: whatever it was doing is cut short. Derived
// totals are recomputed from committed entries, and entries it was still
// writing are dropped, as if that operation had never started.
void recover_after_holder_death(const Segment& seg) noexcept {
  uint64_t reserved = 0;
  for (uint32_t slot = 0; slot < seg.size(); ++slot) {
    Entry& e = seg[slot];
    if (counts(state_of(e))) {
      reserved += e.mib;
    } else if (state_of(e) != ReservationState::kFree) {
      commit_state(e, ReservationState::kFree);
    }
  }
  seg.header->reserved_mib = reserved;
}

void lock_segment(const Segment& seg) {
  pthread_mutex_t* mutex = &seg.header->mutex;
  int rc = ::pthread_mutex_lock(mutex);
  if (rc == EOWNERDEAD) {
    recover_after_holder_death(seg);
    rc = ::pthread_mutex_consistent(mutex);
    if (rc != 0) ::pthread_mutex_unlock(mutex);
  }
  if (rc != 0) throw std::runtime_error(std::string("ledger lock: ") + std::strerror(rc));
}

class SegmentLock {
 public:
  explicit SegmentLock(const Segment& seg) : mutex_(&seg.header->mutex) { lock_segment(seg); }
  ~SegmentLock() { ::pthread_mutex_unlock(mutex_); }
  SegmentLock(const SegmentLock&) = delete;
  SegmentLock& operator=(const SegmentLock&) = delete;

 private:
  pthread_mutex_t* mutex_;
};

void init_mutex(pthread_mutex_t* mutex) {
  pthread_mutexattr_t attr;
  int rc = ::pthread_mutexattr_init(&attr);
  if (rc == 0) rc = ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  // Robust: a holder SIGKILLed at any instant must not wedge every runner
  // process; the next locker gets EOWNERDEAD and repairs the ledger.
  if (rc == 0) rc = ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = ::pthread_mutex_init(mutex, &attr);
  ::pthread_mutexattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error(std::string("ledger mutex init: ") + std::strerror(rc));
}

Segment init_segment(void* base, uint64_t total_mib, uint32_t max_entries) {
  auto* header = new (base) Header{};
  header->layout_version = kLayoutVersion;
  header->header_bytes = sizeof(Header);
  header->entry_bytes = sizeof(Entry);
  header->max_entries = max_entries;
  header->total_mib = total_mib;
  init_mutex(&header->mutex);
  auto* entries =
      static_cast<Entry*>(static_cast<void*>(static_cast<char*>(base) + kEntriesOffset));
  for (uint32_t slot = 0; slot < max_entries; ++slot) new (&entries[slot]) Entry{};
  header->magic.store(kMagic, std::memory_order_release);
  return Segment{header, entries};
}

Segment segment_at(void* base) {
  return Segment{
      static_cast<Header*>(base),
      static_cast<Entry*>(static_cast<void*>(static_cast<char*>(base) + kEntriesOffset))};
}

// Why an existing segment cannot be used as a ledger, if it cannot.
std::optional<std::string> layout_problem(const void* base, size_t size) {
  const auto* header = static_cast<const Header*>(base);
  if (header->magic.load(std::memory_order_acquire) != kMagic) {
    return "not a ledger (bad magic; garbage, or still being created)";
  }
  if (header->layout_version != kLayoutVersion || header->header_bytes != sizeof(Header) ||
      header->entry_bytes != sizeof(Entry)) {
    return "ledger layout version " + std::to_string(header->layout_version) +
           " does not match this build's " + std::to_string(kLayoutVersion);
  }
  if (header->max_entries == 0 || header->max_entries > kMaxEntriesLimit) {
    return "implausible max_entries " + std::to_string(header->max_entries);
  }
  if (size != segment_bytes(header->max_entries)) {
    return "segment is " + std::to_string(size) + " bytes, expected " +
           std::to_string(segment_bytes(header->max_entries)) + " for " +
           std::to_string(header->max_entries) + " entries";
  }
  return std::nullopt;
}

std::string describe(const bip::interprocess_exception& e) {
  const int err = e.get_native_error();
  return err != 0 ? std::strerror(err) : e.what();
}

// --- operations under the lock --------------------------------------------

std::optional<uint32_t> find_free_slot(const Segment& seg) {
  const uint32_t start = seg.header->next_slot % seg.size();
  for (uint32_t i = 0; i < seg.size(); ++i) {
    const uint32_t slot = (start + i) % seg.size();
    if (state_of(seg[slot]) == ReservationState::kFree) return slot;
  }
  return std::nullopt;
}

void write_text(char (&field)[kCallIdBytes], std::string_view text) {
  const size_t n = std::min(text.size(), kCallIdBytes);
  std::memcpy(field, text.data(), n);
  if (n < kCallIdBytes) field[n] = '\0';
}

void write_call_id(Entry& e, std::string_view call_id) {
  write_text(e.call_id, call_id);
  e.label[0] = '\0';
  e.calls = 0;
}

// Writes everything but the committing state store; the entry stays kClaiming.
uint32_t begin_claim(const Segment& seg, uint32_t slot, std::string_view call_id, uint32_t mib,
                     const OwnerRecord& owner, int64_t now_ms) {
  Entry& e = seg[slot];
  commit_state(e, ReservationState::kClaiming);
  // Generation 0 is never issued, so a default ReservationId matches nothing.
  e.generation = e.generation + 1 == 0 ? 1 : e.generation + 1;
  e.mib = mib;
  e.start_unix_ms = now_ms;
  e.owners[0] = owner;
  e.owner_index.store(0, std::memory_order_release);
  write_call_id(e, call_id);
  seg.header->next_slot = (slot + 1) % seg.size();
  return e.generation;
}

std::optional<ReservationId> try_reserve(const Segment& seg, std::string_view call_id, uint32_t mib,
                                         const OwnerRecord& owner, int64_t now_ms) {
  SegmentLock lock(seg);
  Header& h = *seg.header;
  if (h.reserved_mib + mib > h.total_mib) return std::nullopt;
  const auto slot = find_free_slot(seg);
  if (!slot) return std::nullopt;
  const uint32_t generation = begin_claim(seg, *slot, call_id, mib, owner, now_ms);
  commit_state(seg[*slot], ReservationState::kReserved);
  h.reserved_mib += mib;
  return ReservationId{*slot, generation};
}

struct Holder {
  ReservationId id;
  OwnerRecord owner;
};

std::vector<Holder> collect_holders(const Segment& seg) {
  std::vector<Holder> holders;
  holders.reserve(seg.size());  // no allocation while the lock is held
  SegmentLock lock(seg);
  for (uint32_t slot = 0; slot < seg.size(); ++slot) {
    const Entry& e = seg[slot];
    if (counts(state_of(e))) holders.push_back({{slot, e.generation}, current_owner(e)});
  }
  return holders;
}

// Reads /proc once per distinct owner; the lock is not held.
std::vector<Holder> dead_holders(const std::vector<Holder>& holders) {
  const pid_t self = ::getpid();
  std::vector<std::pair<OwnerRecord, bool>> verdicts;
  std::vector<Holder> dead;
  for (const Holder& h : holders) {
    if (h.owner.pid == self) continue;
    auto it = std::find_if(verdicts.begin(), verdicts.end(),
                           [&](const auto& v) { return v.first == h.owner; });
    if (it == verdicts.end()) {
      verdicts.emplace_back(h.owner, owner_alive(h.owner));
      it = std::prev(verdicts.end());
    }
    if (!it->second) dead.push_back(h);
  }
  return dead;
}

// Frees those of `dead` that are unchanged since they were judged: a
// reservation handed to a live process in the meantime must survive.
uint32_t release_unchanged(const Segment& seg, const std::vector<Holder>& dead) {
  uint32_t released = 0;
  SegmentLock lock(seg);
  for (const Holder& h : dead) {
    Entry* e = seg.live(h.id);
    if (e == nullptr || !(current_owner(*e) == h.owner)) continue;
    commit_state(*e, ReservationState::kFree);
    seg.header->reserved_mib -= e->mib;
    ++released;
  }
  return released;
}

// A plain copy of an entry, so snapshot() can build strings after unlocking.
struct EntryCopy {
  ReservationId id;
  uint32_t mib = 0;
  pid_t owner_pid = 0;
  ReservationState state = ReservationState::kFree;
  int64_t start_unix_ms = 0;
  char call_id[kCallIdBytes] = {};
  char label[kCallIdBytes] = {};
  uint32_t calls = 0;
};

ReservationView to_view(const EntryCopy& c) {
  return ReservationView{
      .id = c.id,
      .call_id = std::string(c.call_id, ::strnlen(c.call_id, kCallIdBytes)),
      .mib = c.mib,
      .owner_pid = c.owner_pid,
      .state = c.state,
      .start_unix_ms = c.start_unix_ms,
      .label = std::string(c.label, ::strnlen(c.label, kCallIdBytes)),
      .calls = c.calls,
  };
}

}  // namespace

std::string_view reservation_state_name(ReservationState s) {
  switch (s) {
    case ReservationState::kFree:
      return "free";
    case ReservationState::kClaiming:
      return "claiming";
    case ReservationState::kReserved:
      return "reserved";
    case ReservationState::kRunning:
      return "running";
    case ReservationState::kIdle:
      return "idle";
  }
  return "unknown";
}

struct Ledger::Impl {
  bip::mapped_region region;
  Segment seg;
};

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

std::unique_ptr<Ledger> Ledger::create(const std::string& name, uint64_t total_mib,
                                       uint32_t max_entries) {
  if (max_entries == 0 || max_entries > kMaxEntriesLimit) {
    throw std::invalid_argument("ledger create '" + name + "': max_entries " +
                                std::to_string(max_entries) + " is outside 1.." +
                                std::to_string(kMaxEntriesLimit));
  }
  // A segment left by a runner that crashed holds reservations of dead
  // processes and maybe an old layout: start afresh.
  bip::shared_memory_object::remove(name.c_str());
  auto impl = std::make_unique<Impl>();
  try {
    // 0600: whoever can write the ledger can starve or over-commit the runner.
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write,
                                  bip::permissions(0600));
    shm.truncate(static_cast<bip::offset_t>(segment_bytes(max_entries)));
    impl->region = bip::mapped_region(shm, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    bip::shared_memory_object::remove(name.c_str());
    throw std::runtime_error("ledger create '" + name + "': " + describe(e));
  }
  try {
    impl->seg = init_segment(impl->region.get_address(), total_mib, max_entries);
  } catch (const std::exception& e) {
    bip::shared_memory_object::remove(name.c_str());
    throw std::runtime_error("ledger create '" + name + "': " + e.what());
  }
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

std::unique_ptr<Ledger> Ledger::open(const std::string& name, std::string* error) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<Ledger> {
    if (error != nullptr) *error = "ledger '" + name + "': " + why;
    return nullptr;
  };
  auto impl = std::make_unique<Impl>();
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    bip::offset_t size = 0;
    if (!shm.get_size(size)) return fail("cannot read the segment size");
    if (size < static_cast<bip::offset_t>(segment_bytes(1))) {
      return fail("segment is " + std::to_string(size) + " bytes, too small for a ledger");
    }
    impl->region = bip::mapped_region(shm, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_native_error() == ENOENT) return fail("no such ledger (is the runner running?)");
    return fail("cannot open or map it: " + describe(e));
  }
  if (auto problem = layout_problem(impl->region.get_address(), impl->region.get_size())) {
    return fail(*problem);
  }
  impl->seg = segment_at(impl->region.get_address());
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

void Ledger::remove(const std::string& name) { bip::shared_memory_object::remove(name.c_str()); }

std::optional<ReservationId> Ledger::reserve(std::string_view call_id, uint32_t mib, pid_t owner) {
  const Segment& seg = impl_->seg;
  // It would not fit even in an empty ledger; reaping could not help.
  if (mib > seg.header->total_mib) return std::nullopt;
  const OwnerRecord rec = resolve_owner(owner);
  const int64_t now_ms = unix_ms_now();
  if (auto id = try_reserve(seg, call_id, mib, rec, now_ms)) return id;
  reap_dead_owners();
  return try_reserve(seg, call_id, mib, rec, now_ms);
}

bool Ledger::set_owner(ReservationId id, pid_t owner, ReservationState state) {
  if (!counts(state) || owner < 0) return false;
  const OwnerRecord rec = resolve_owner(owner);
  SegmentLock lock(impl_->seg);
  Entry* e = impl_->seg.live(id);
  if (e == nullptr) return false;
  const uint8_t next = (e->owner_index.load(std::memory_order_relaxed) & 1U) ^ 1U;
  e->owners[next] = rec;
  e->owner_index.store(next, std::memory_order_release);
  commit_state(*e, state);
  return true;
}

bool Ledger::set_state(ReservationId id, ReservationState state) {
  if (!counts(state)) return false;
  SegmentLock lock(impl_->seg);
  Entry* e = impl_->seg.live(id);
  if (e == nullptr) return false;
  commit_state(*e, state);
  return true;
}

bool Ledger::label(ReservationId id, std::string_view call_id, std::string_view text,
                   uint32_t calls) {
  SegmentLock lock(impl_->seg);
  Entry* e = impl_->seg.live(id);
  if (e == nullptr) return false;
  write_text(e->call_id, call_id);
  write_text(e->label, text);
  e->calls = calls;
  return true;
}

bool Ledger::release(ReservationId id) {
  SegmentLock lock(impl_->seg);
  Entry* e = impl_->seg.live(id);
  if (e == nullptr) return false;
  commit_state(*e, ReservationState::kFree);
  impl_->seg.header->reserved_mib -= e->mib;
  return true;
}

uint32_t Ledger::reap_dead_owners() {
  const auto dead = dead_holders(collect_holders(impl_->seg));
  return dead.empty() ? 0 : release_unchanged(impl_->seg, dead);
}

LedgerSnapshot Ledger::snapshot() const {
  const Segment& seg = impl_->seg;
  std::vector<EntryCopy> copies;
  copies.reserve(seg.size());  // no allocation while the lock is held
  LedgerSnapshot snap;
  snap.total_mib = seg.header->total_mib;
  {
    SegmentLock lock(seg);
    snap.reserved_mib = seg.header->reserved_mib;
    for (uint32_t slot = 0; slot < seg.size(); ++slot) {
      const Entry& e = seg[slot];
      const ReservationState state = state_of(e);
      if (state == ReservationState::kFree) continue;
      EntryCopy& c = copies.emplace_back();
      c.id = {slot, e.generation};
      c.mib = e.mib;
      c.owner_pid = current_owner(e).pid;
      c.state = state;
      c.start_unix_ms = e.start_unix_ms;
      std::memcpy(c.call_id, e.call_id, kCallIdBytes);
      std::memcpy(c.label, e.label, kCallIdBytes);
      c.calls = e.calls;
    }
  }
  snap.entries.reserve(copies.size());
  for (const EntryCopy& c : copies) snap.entries.push_back(to_view(c));
  return snap;
}

uint64_t Ledger::total_mib() const { return impl_->seg.header->total_mib; }

uint64_t Ledger::reserved_mib() const {
  SegmentLock lock(impl_->seg);
  return impl_->seg.header->reserved_mib;
}

void Ledger::lock_for_test(uint32_t half_reserve_mib) {
  const Segment& seg = impl_->seg;
  const OwnerRecord self = self_owner();
  lock_segment(seg);
  if (half_reserve_mib == 0) return;
  if (const auto slot = find_free_slot(seg)) {
    begin_claim(seg, *slot, "half-written", half_reserve_mib, self, unix_ms_now());
    seg.header->reserved_mib += half_reserve_mib;
  }
}

}  // namespace fnr
