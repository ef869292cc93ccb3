// Helpers for the wire-layer tests: checking ApiError status and message.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "api/service.h"

// Runs `stmt`, expecting ApiError(status, message) exactly.
#define EXPECT_API_ERROR(stmt, want_status, want_message)                   \
  do {                                                                      \
    try {                                                                   \
      (void)(stmt);                                                         \
      ADD_FAILURE() << "no ApiError from " #stmt;                           \
    } catch (const ::ollmlx::api::ApiError& api_error_) {                   \
      EXPECT_EQ(api_error_.status(), (want_status)) << api_error_.message(); \
      EXPECT_EQ(api_error_.message(), std::string(want_message));           \
    }                                                                       \
  } while (0)
