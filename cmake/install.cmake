# cmake/install.cmake: `cmake --install` for C++ users: headers, the manycore_core library and the manycore CMake package (manycore::core).
#
# Included by the top-level CMakeLists.txt outside scikit-build-core builds (a wheel
# carries only the Python package). A program then builds with
#   find_package(manycore CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE manycore::core)
# examples/cmake-consumer/ is such a program; tests/cmake/consumer_test.cmake builds it
# against a fresh install as a ctest test.
#
# The core is compiled against one CPython's non-limited C-API, so the package is
# bound to that Python minor version: the config finds exactly that version again
# (preferring the interpreter the library was built with) and refuses any other.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# One version for the wheel and the C++ package: pyproject.toml's.
file(STRINGS "${PROJECT_SOURCE_DIR}/pyproject.toml" _manycore_version_line REGEX "^version = \"[^\"]+\"")
string(REGEX REPLACE "^version = \"([^\"]+)\"" "\\1" MANYCORE_VERSION "${_manycore_version_line}")
if(NOT MANYCORE_VERSION MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+")
  message(FATAL_ERROR "cmake/install.cmake: no 'version = \"X.Y.Z\"' line in pyproject.toml")
endif()

set(MANYCORE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/manycore" CACHE STRING
    "Where `cmake --install` puts manycoreConfig.cmake (relative to the prefix)")

set_target_properties(manycore_core PROPERTIES EXPORT_NAME core)
add_library(manycore::core ALIAS manycore_core)
# In the build tree the headers come from include/; once installed, from <prefix>/include.
# Linked programs embed CPython: installed, manycore::core brings libpython along
# (Python::Python); the extension module in this tree must not link it (Python::Module).
target_include_directories(manycore_core INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(manycore_core INTERFACE $<INSTALL_INTERFACE:Python::Python>)

install(TARGETS manycore_core EXPORT manycoreTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/manycore DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(EXPORT manycoreTargets NAMESPACE manycore:: DESTINATION ${MANYCORE_INSTALL_CMAKEDIR})

set(MANYCORE_PYTHON_VERSION "${Python_VERSION_MAJOR}.${Python_VERSION_MINOR}")
configure_package_config_file(cmake/manycoreConfig.cmake.in
  "${PROJECT_BINARY_DIR}/manycoreConfig.cmake"
  INSTALL_DESTINATION ${MANYCORE_INSTALL_CMAKEDIR})
# 0.x: a minor release may break the API, so only the same major.minor is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/manycoreConfigVersion.cmake"
  VERSION ${MANYCORE_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/manycoreConfig.cmake" "${PROJECT_BINARY_DIR}/manycoreConfigVersion.cmake"
        DESTINATION ${MANYCORE_INSTALL_CMAKEDIR})
