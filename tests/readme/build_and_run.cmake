# Builds README.md's code blocks (the target readme_code_blocks), runs each
# of them that is a program, and runs each plugin with `mapreduce run --job`
# on SAMPLE (its first lines of output shown); fails on the first error.
# Usage: cmake -DBUILD=<build dir> -DPROGRAMS=<program;...> -DPLUGINS=<.so;...>
#              -DMAPREDUCE=<program> -DSAMPLE=<text file> -P build_and_run.cmake
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD} --target readme_code_blocks
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "a README.md code block does not build:\n${out}")
endif()
foreach(program ${PROGRAMS})
  execute_process(COMMAND ${program} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
                  TIMEOUT 60)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "README.md code block ${program} failed (${rc}):\n${out}")
  endif()
  message(STATUS "${program}: ${out}")
endforeach()
foreach(plugin ${PLUGINS})
  execute_process(COMMAND ${MAPREDUCE} run --job ${plugin} --no-progress --top 3 ${SAMPLE}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 0 OR out STREQUAL "")
    message(FATAL_ERROR "README.md code block ${plugin}: mapreduce run failed (${rc}):\n${err}")
  endif()
  message(STATUS "${plugin}:\n${out}")
endforeach()
