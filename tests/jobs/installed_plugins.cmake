cmake_minimum_required(VERSION 3.25)
# The installed program finds the installed plugins: installs the build
# tree into a temporary prefix, then, with MAPREDUCE_JOB_PATH unset, checks
# that `mapreduce jobs` lists the built-in plugin jobs from the prefix's
# ${LIBDIR}/mapreduce/jobs and that `mapreduce run --job grep` runs one.
# Usage: cmake -DBUILD=<build dir> -DBINDIR=<bindir> -DLIBDIR=<libdir>
#              -DWORK=<scratch dir> -P installed_plugins.cmake
string(RANDOM LENGTH 8 tag)
set(prefix "${WORK}/mr-installed-plugins-${tag}")
macro(fail message)
  file(REMOVE_RECURSE "${prefix}")
  message(FATAL_ERROR "${message}")
endmacro()

execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD}" --prefix "${prefix}"
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(rc)
  fail("cmake --install failed: ${err}")
endif()
set(program "${prefix}/${BINDIR}/mapreduce")
set(jobs_dir "${prefix}/${LIBDIR}/mapreduce/jobs")
if(NOT EXISTS "${jobs_dir}/libmr_job_grep.so")
  fail("the install has no ${jobs_dir}/libmr_job_grep.so")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=MAPREDUCE_JOB_PATH "${program}" jobs
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc)
  fail("mapreduce jobs failed (${rc}): ${err}")
endif()
# Each listed plugin's path, made canonical, must be in the installed folder.
file(REAL_PATH "${jobs_dir}" jobs_dir)
string(REGEX MATCHALL "\n    [^\n]+\\.so" paths "${out}")
set(found "")
foreach(path ${paths})
  string(STRIP "${path}" path)
  file(REAL_PATH "${path}" path)
  get_filename_component(dir "${path}" DIRECTORY)
  if(NOT dir STREQUAL jobs_dir)
    fail("mapreduce jobs lists ${path}, not in ${jobs_dir}:\n${out}")
  endif()
  get_filename_component(name "${path}" NAME)
  list(APPEND found ${name})
endforeach()
foreach(job grep charfreq invertedindex)
  if(NOT "libmr_job_${job}.so" IN_LIST found)
    fail("mapreduce jobs does not list the installed ${job}:\n${out}")
  endif()
endforeach()

file(WRITE "${prefix}/input.txt" "to sherlock holmes\nshe is always the woman\nholmes again\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=MAPREDUCE_JOB_PATH "${program}" run
                        --job grep --opt pattern=holmes --no-progress "${prefix}/input.txt"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc)
  fail("mapreduce run --job grep failed (${rc}): ${err}")
endif()
if(NOT out MATCHES "to sherlock holmes" OR NOT out MATCHES "holmes again" OR out MATCHES "woman")
  fail("unexpected grep output:\n${out}")
endif()
file(REMOVE_RECURSE "${prefix}")
