# tests/cmake/consumer_test.cmake: `cmake --install` into a fresh prefix, then configure, build and run examples/cmake-consumer against it (cmake -P).
#
# Inputs (-D): MANYCORE_BUILD_DIR (a built manycore tree), CONSUMER_SOURCE_DIR,
# WORK_DIR (emptied first), Python_EXECUTABLE, GENERATOR, CXX_COMPILER.
# The consumer sees only the install prefix (CMAKE_PREFIX_PATH): no path into the
# source or build tree, so a header or target missing from the install fails here.
foreach(input MANYCORE_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR Python_EXECUTABLE GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${input})
    message(FATAL_ERROR "consumer_test.cmake needs -D${input}=...")
  endif()
endforeach()

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "${what} failed (${code}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
step("cmake --install" ${CMAKE_COMMAND} --install "${MANYCORE_BUILD_DIR}" --prefix "${prefix}")
foreach(installed include/manycore/interpreter.h include/manycore/value.h)
  if(NOT EXISTS "${prefix}/${installed}")
    message(FATAL_ERROR "cmake --install did not install ${installed}")
  endif()
endforeach()
file(GLOB_RECURSE config_files "${prefix}/*/manycoreConfig.cmake" "${prefix}/*/manycoreConfigVersion.cmake")
list(LENGTH config_files config_count)
if(NOT config_count EQUAL 2)
  message(FATAL_ERROR "expected manycoreConfig.cmake and manycoreConfigVersion.cmake under ${prefix}, found: ${config_files}")
endif()

step("configure the consumer" ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
     -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix} -DPython_EXECUTABLE=${Python_EXECUTABLE}
     -DCMAKE_BUILD_TYPE=Release)
step("build the consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
step("run the consumer" "${WORK_DIR}/build/consumer")
string(REGEX MATCHALL "math\\.factorial\\(20\\) = 2432902008176640000" answers "${step_output}")
list(LENGTH answers answer_count)
if(NOT answer_count EQUAL 2)
  message(FATAL_ERROR "the consumer should print two answers, it printed:\n${step_output}")
endif()
message(STATUS "consumer output:\n${step_output}")
