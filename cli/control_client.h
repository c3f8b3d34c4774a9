#pragma once
// The client end of the supervisor's control socket
// (supervisor/control_socket.h): one command line out, answer lines back.
#include <functional>
#include <string>
#include <string_view>

namespace fnr::cli {

// <runtime_dir>/<ledger>.ctl, as the runner names it.
std::string control_path(const std::string& runtime_dir, const std::string& ledger);

// Sends `command` and calls on_line for every answer line (without its
// newline) until the runner closes the connection. False with `error` set if
// the socket cannot be reached or the connection breaks.
bool control_request(const std::string& path, std::string_view command,
                     const std::function<void(std::string_view)>& on_line, std::string* error);

}  // namespace fnr::cli
