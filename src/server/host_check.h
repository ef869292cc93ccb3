// The DNS-rebinding guard Ollama applies when bound to a loopback address: the Host header must
// name this machine (loopback, private or unspecified IP, a local interface address, localhost,
// the hostname, *.localhost, *.local, *.internal); anything else is 403.
#pragma once

#include <string>
#include <string_view>

namespace ollmlx::server {

enum class HostVerdict { Allow, NoContent /* OPTIONS on an allowed name */, Forbidden };

HostVerdict check_host(std::string_view host_header, std::string_view method);

// Whether the server binds a loopback address (only then is the check applied).
bool is_loopback_bind(const std::string& host);

}  // namespace ollmlx::server
