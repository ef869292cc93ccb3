// Default answers of the optional Service operations (a service without a model store).
#include "api/service.h"

namespace ollmlx::api {

void Service::pull(const PullRequest&, const ProgressSink&) {
  throw ApiError(501, "pull is not available: this server has no model store");
}

void Service::create(const CreateRequest&, const ProgressSink&) {
  throw ApiError(501, "create is not available: this server has no model store");
}

bool Service::has_blob(const std::string&) {
  throw ApiError(501, "blobs are not available: this server has no model store");
}

bool Service::put_blob(const std::string&, const BodyReader&) {
  throw ApiError(501, "blob upload is not available: this server has no model store");
}

}  // namespace ollmlx::api
