#include "supervisor/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "shared/cgroup.h"

namespace fnr {

WorkerPool::WorkerPool(RunnerContext& ctx) : ctx_(ctx) {}

WorkerPool::~WorkerPool() {
  if (spawner_) spawner_->stop();
}

void WorkerPool::start() {
  if (ctx_.config.get()->spare_workers == 0) return;
  spawner_ = std::make_unique<Spawner>(
      [this] {
        return spawn_worker(ctx_.worker_path, ctx_.config.get()->log_level, ctx_.seccomp_fd);
      },
      [this](SpawnedWorker w) {
        auto shared = std::make_shared<SpawnedWorker>(std::move(w));
        ctx_.loop->post([this, shared] {
          --spares_pending_;
          WorkerHandle* h = adopt(std::move(*shared));
          if (shutting_down_) return h->shut_down(std::chrono::milliseconds(0));
          spares_.push_back(h);
        });
      },
      [this](unsigned dropped) {
        // Without this the pool would count these as on their way forever
        // and never ask for a spare again.
        ctx_.loop->post([this, dropped] { spares_pending_ -= dropped; });
      });
  refill_spares();
}

void WorkerPool::refill_spares() {
  if (!spawner_ || shutting_down_) return;
  const size_t have = spares_.size() + spares_pending_;
  const uint32_t want = ctx_.config.get()->spare_workers;
  if (have >= want) return;
  const auto n = static_cast<unsigned>(want - have);
  spares_pending_ += n;
  spawner_->request(n);
}

WorkerHandle* WorkerPool::adopt(SpawnedWorker w) {
  auto h = std::make_unique<WorkerHandle>(
      ctx_.loop->loop(), std::move(w), [this](WorkerHandle* lost) { on_lost(lost); }, ctx_.metrics);
  WorkerHandle* raw = h.get();
  all_.emplace(raw, std::move(h));
  {
    std::lock_guard<std::mutex> lock(ctx_.workers_mu);
    ++ctx_.live_workers;
  }
  return raw;
}

WorkerHandle* WorkerPool::take_idle(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  WorkerHandle* w = it->second.back();
  it->second.pop_back();
  if (it->second.empty()) idle_.erase(it);
  // A container that died while idle is lost any moment now; not for us.
  if (w->lost() || !w->link().open()) return take_idle(key);
  uv_timer_stop(w->idle_timer);
  w->set_state(WorkerHandle::State::kBusy);
  return w;
}

std::optional<ReservationId> WorkerPool::reserve(const std::string& call_id, uint32_t mib) {
  for (;;) {
    if (auto r = ctx_.ledger->reserve(call_id, mib)) return r;
    // Evict the least recently used idle container and try again.
    WorkerHandle* lru = nullptr;
    for (const auto& [key, v] : idle_) {
      for (WorkerHandle* w : v) {
        if (lru == nullptr || w->last_used < lru->last_used) lru = w;
      }
    }
    if (lru == nullptr) return std::nullopt;
    ctx_.metrics.eviction(EvictionReason::kCapacity);
    evict(lru, "making room");
  }
}

WorkerHandle* WorkerPool::take_fresh(ReservationId reservation, uint32_t mib, std::string* error) {
  WorkerHandle* w = nullptr;
  while (!spares_.empty() && w == nullptr) {
    w = spares_.back();
    spares_.pop_back();
    if (w->lost() || !w->link().open()) w = nullptr;
  }
  if (w == nullptr) {
    try {
      w = adopt(spawn_worker(ctx_.worker_path, ctx_.config.get()->log_level, ctx_.seccomp_fd));
    } catch (const std::exception& e) {
      ctx_.ledger->release(reservation);
      *error = e.what();
      return nullptr;
    }
  }
  refill_spares();
  w->set_state(WorkerHandle::State::kBusy);
  w->reservation = reservation;
  w->mib = mib;
  w->sandbox_id = ctx_.instance_id + "-" + std::to_string(ctx_.next_sandbox.fetch_add(1));
  ctx_.ledger->set_owner(reservation, w->pid(), ReservationState::kRunning);
  return w;
}

void WorkerPool::park(WorkerHandle* w) {
  if (shutting_down_ || w->lost()) return evict(w, "shutting down");
  // A drained runner holds no capacity for calls it will not take.
  if (ctx_.draining.load()) return evict(w, "draining");
  w->set_state(WorkerHandle::State::kIdle);
  w->last_used = std::chrono::steady_clock::now();
  if (w->reservation) ctx_.ledger->set_state(*w->reservation, ReservationState::kIdle);
  idle_[w->slot_key].push_back(w);
  w->on_idle_expired = [this, w] {
    ctx_.metrics.eviction(EvictionReason::kIdleTimeout);
    evict(w, "idle timeout");
  };
  uv_timer_start(
      w->idle_timer,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<WorkerHandle*>(t->data)) self->on_idle_expired();
      },
      static_cast<uint64_t>(w->idle_timeout_s) * 1000, 0);
}

void WorkerPool::forget_idle(WorkerHandle* w) {
  auto it = idle_.find(w->slot_key);
  if (it == idle_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), w), v.end());
  if (v.empty()) idle_.erase(it);
}

void WorkerPool::evict(WorkerHandle* w, const char* why) {
  spdlog::info("worker {}: evicting its container ({}), {} MiB back", w->pid(), why, w->mib);
  forget_idle(w);
  // The container is being killed: its capacity is free for the caller now.
  if (w->reservation) ctx_.ledger->release(*std::exchange(w->reservation, std::nullopt));
  w->shut_down(std::chrono::milliseconds(0));
}

void WorkerPool::on_lost(WorkerHandle* w) {
  forget_idle(w);
  spares_.erase(std::remove(spares_.begin(), spares_.end(), w), spares_.end());
  if (w->reservation) ctx_.ledger->release(*std::exchange(w->reservation, std::nullopt));
  if (!w->sandbox_id.empty()) {
    // A worker that died abruptly could not clean up after its container.
    if (ctx_.cgroups.version != 0) Cgroup::remove_stale(ctx_.cgroups, w->sandbox_id);
    std::error_code ec;
    std::filesystem::remove_all(ctx_.runtime_dir + "/" + w->sandbox_id, ec);
  }
  // Freed from a fresh loop turn: we are inside one of its callbacks.
  ctx_.loop->post([this, w] {
    all_.erase(w);
    {
      std::lock_guard<std::mutex> lock(ctx_.workers_mu);
      --ctx_.live_workers;
    }
    ctx_.workers_cv.notify_all();
    refill_spares();
  });
}

void WorkerPool::end_idle(const char* why) {
  std::vector<WorkerHandle*> idle;
  for (const auto& [key, v] : idle_) idle.insert(idle.end(), v.begin(), v.end());
  for (WorkerHandle* w : idle) evict(w, why);
}

void WorkerPool::shut_down_all(std::chrono::milliseconds grace) {
  shutting_down_ = true;
  if (spawner_) spawner_->stop();
  for (auto& [raw, w] : all_) {
    if (w->state() != WorkerHandle::State::kBusy) {
      w->shut_down(std::chrono::milliseconds(0));
    } else {
      w->shut_down(grace);
    }
  }
}

}  // namespace fnr

namespace fnr {

void WorkerPool::clear() {
  if (spawner_) spawner_->stop();
  idle_.clear();
  spares_.clear();
  for (auto& [raw, w] : all_) {
    if (w->reservation) ctx_.ledger->release(*std::exchange(w->reservation, std::nullopt));
  }
  all_.clear();  // ~WorkerHandle kills and reaps
  std::lock_guard<std::mutex> lock(ctx_.workers_mu);
  ctx_.live_workers = 0;
}

}  // namespace fnr
