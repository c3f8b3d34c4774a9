#include "bench/channels.h"

namespace fnr::bench {

bool connect_channels(const std::string& target, uint32_t count, std::chrono::milliseconds timeout,
                      std::vector<std::shared_ptr<grpc::Channel>>* out, std::string* error) {
  for (uint32_t i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // Otherwise channels with equal arguments share one connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + timeout)) {
      *error = "cannot connect to " + target;
      return false;
    }
    out->push_back(std::move(channel));
  }
  return true;
}

}  // namespace fnr::bench
