#include "worker/hot_container.h"

namespace fnr {

// Each hot format registers here as it is implemented.
std::unique_ptr<HotContainer> make_hot_container(uv_loop_t* /*loop*/,
                                                 const wire::CallSpec& /*spec*/,
                                                 const std::vector<sock_filter>& /*seccomp*/) {
  return nullptr;
}

}  // namespace fnr
