#pragma once
// The bench's connections: --channels N distinct HTTP/2 connections.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace fnr::bench {

// Plaintext channels to `target`, each on its own connection, all
// connected (false with `error` set if one is not within `timeout`).
bool connect_channels(const std::string& target, uint32_t count, std::chrono::milliseconds timeout,
                      std::vector<std::shared_ptr<grpc::Channel>>* out, std::string* error);

}  // namespace fnr::bench
