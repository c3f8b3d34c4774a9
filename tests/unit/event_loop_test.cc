// The supervisor's loop thread: tasks posted from other threads run there in
// order; tasks deferred from the loop run after the callback that deferred
// them, without waking the loop through its eventfd; stop() runs what is left.
#include "supervisor/event_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace fnr {
namespace {

// Generous: a task that never runs fails the test rather than hanging it.
constexpr auto kPatience = std::chrono::seconds(10);

TEST(EventLoopTest, PostedTasksRunOnTheLoopThreadInOrder) {
  EventLoop loop;
  loop.start();
  std::vector<int> seen;  // loop thread only
  std::promise<std::thread::id> done;
  for (int i = 0; i < 100; ++i) loop.post([&seen, i] { seen.push_back(i); });
  loop.post([&done] { done.set_value(std::this_thread::get_id()); });
  auto ran_on = done.get_future();
  ASSERT_EQ(ran_on.wait_for(kPatience), std::future_status::ready);
  EXPECT_NE(ran_on.get(), std::this_thread::get_id());
  loop.stop();
  ASSERT_EQ(seen.size(), 100U);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(EventLoopTest, DeferredTasksRunAfterTheCallbackThatDeferredThem) {
  EventLoop loop;
  loop.start();
  std::vector<std::string> order;  // loop thread only
  std::promise<void> done;
  loop.post([&] {
    loop.defer([&] { order.emplace_back("first deferred"); });
    loop.defer([&] {
      order.emplace_back("second deferred");
      // Deferred from a deferred task: a later turn, still before the loop
      // sleeps (nothing else would wake it).
      loop.defer([&] {
        order.emplace_back("deferred again");
        done.set_value();
      });
    });
    order.emplace_back("callback end");
  });
  ASSERT_EQ(done.get_future().wait_for(kPatience), std::future_status::ready);
  loop.stop();
  EXPECT_EQ(order, (std::vector<std::string>{"callback end", "first deferred", "second deferred",
                                             "deferred again"}));
}

TEST(EventLoopTest, DeferredFromATimerRunsWithoutAnotherWakeUp) {
  struct Shared {
    EventLoop loop;
    std::promise<void> done;
    uv_timer_t* timer = new uv_timer_t{};
  } s;
  s.loop.start();
  s.loop.post([&s] {
    uv_timer_init(s.loop.loop(), s.timer);
    s.timer->data = &s;
    uv_timer_start(
        s.timer,
        [](uv_timer_t* t) {
          auto* sh = static_cast<Shared*>(t->data);
          // Timers run before the poll: the deferred task must not wait for
          // an I/O event that may never come.
          sh->loop.defer([sh] { sh->done.set_value(); });
        },
        1, 0);
  });
  EXPECT_EQ(s.done.get_future().wait_for(kPatience), std::future_status::ready);
  s.loop.post([&s] {
    uv_close(reinterpret_cast<uv_handle_t*>(s.timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  });
  s.loop.stop();
}

}  // namespace
}  // namespace fnr
