#include "cli/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shared/unique_fd.h"

namespace fnr::cli {

std::string control_path(const std::string& runtime_dir, const std::string& ledger) {
  return runtime_dir + "/" + ledger + ".ctl";
}

bool control_request(const std::string& path, std::string_view command,
                     const std::function<void(std::string_view)>& on_line, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = "control socket path too long: " + path;
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = "cannot connect to " + path + ": " + std::strerror(errno);
    return false;
  }
  const std::string line = std::string(command) + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    *error = "cannot send to " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string pending;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = "reading " + path + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    pending.append(buf, static_cast<size_t>(n));
    for (size_t eol = pending.find('\n'); eol != std::string::npos; eol = pending.find('\n')) {
      on_line(std::string_view(pending).substr(0, eol));
      pending.erase(0, eol + 1);
    }
  }
  if (!pending.empty()) on_line(pending);
  return true;
}

}  // namespace fnr::cli
