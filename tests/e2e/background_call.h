#pragma once
// A call running on its own thread, so a test can look at the runner (its
// ledger, its processes, its Status) while the call is in flight, and then
// cancel it the way an LB whose user went away does. The destructor cancels
// and joins, so a failed ASSERT cannot leave a thread behind.
#include <string>
#include <thread>
#include <utility>

#include "client/lb_client.h"

namespace fnr::e2e {

class BackgroundCall {
 public:
  // `body` owns its bytes when given a std::string&&; an fd body is read
  // as the test writes to it.
  BackgroundCall(client::LbClient& lb, std::string call_json, client::BodySource body = {},
                 client::CallOptions options = {})
      : json_(std::move(call_json)), body_(std::move(body)), options_(std::move(options)) {
    options_.canceller = &canceller_;
    thread_ = std::thread([this, &lb] { outcome_ = lb.engage(json_, body_, options_); });
  }
  ~BackgroundCall() {
    if (thread_.joinable()) {
      canceller_.cancel();
      thread_.join();
    }
  }
  BackgroundCall(const BackgroundCall&) = delete;
  BackgroundCall& operator=(const BackgroundCall&) = delete;

  // TryCancel on the call's ClientContext (now, or as soon as it starts).
  void cancel() { canceller_.cancel(); }
  // Waits for the call to end and returns what the LB saw.
  const client::CallOutcome& wait() {
    if (thread_.joinable()) thread_.join();
    return outcome_;
  }

 private:
  std::string json_;
  client::BodySource body_;
  client::CallOptions options_;
  client::CallCanceller canceller_;
  client::CallOutcome outcome_;
  std::thread thread_;
};

}  // namespace fnr::e2e
