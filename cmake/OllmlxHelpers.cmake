# Shared compile flags and helpers for every ollmlx target.

add_library(ollmlx_flags INTERFACE)
target_compile_options(ollmlx_flags INTERFACE -Wall -Wextra -Wpedantic
  -Wno-missing-field-initializers $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>)
if(OLLMLX_FATAL_WARNINGS)
  target_compile_options(ollmlx_flags INTERFACE -Werror)
endif()
if(OLLMLX_NATIVE)
  target_compile_options(ollmlx_flags INTERFACE -march=native)
endif()
if(OLLMLX_SANITIZE)
  target_compile_options(ollmlx_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined
    # GCC 12 reports false -Wmaybe-uninitialized inside libstdc++ (std::regex, std::function)
    # once the sanitizers change inlining; the release build keeps the warning.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  target_link_options(ollmlx_flags INTERFACE -fsanitize=address,undefined)
endif()
target_include_directories(ollmlx_flags INTERFACE ${PROJECT_SOURCE_DIR}/src)

# ollmlx_library(name SOURCES... DEPS...): one static library per layer.
function(ollmlx_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ollmlx_flags ${ARG_DEPS})
endfunction()

# ollmlx_test(name LABEL label SOURCES... DEPS...): a GoogleTest executable registered with CTest.
function(ollmlx_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ollmlx_flags ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  # Remembered per label so a build can make only the tests it runs (tests/CMakeLists.txt).
  set_property(GLOBAL APPEND PROPERTY OLLMLX_TESTS_${ARG_LABEL} ${name})
  gtest_discover_tests(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "OLLMLX_SOURCE_DIR=${PROJECT_SOURCE_DIR};OLLMLX_BINARY_DIR=${PROJECT_BINARY_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
