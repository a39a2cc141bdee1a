# mapreduce_add_plugin(NAME SOURCES src...)
# A job plugin for the mapreduce program: target mr_job_<NAME>, a MODULE
# library libmr_job_<NAME>.so (what `mapreduce run --job <NAME>` looks for,
# on MAPREDUCE_JOB_PATH or where the installed program keeps its plugins),
# linking only mr::job_api, its symbols hidden but for the plugin's
# mr_plugin_v1 entry. `cmake --install` puts it in
# ${CMAKE_INSTALL_LIBDIR}/mapreduce/jobs of the install prefix, where a
# mapreduce installed to the same prefix finds it. Build it with the compiler
# that built mapreduce: the loader refuses a plugin from another compiler or
# standard library.
#
# Installed with the package (find_package(mapreduce) defines it) and used by
# the project's own jobs/ through mr_add_plugin.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(mapreduce_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES OR ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "usage: mapreduce_add_plugin(NAME SOURCES file...)")
  endif()
  set(target mr_job_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE mr::job_api)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib" OUTPUT_NAME mr_job_${name}
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/mapreduce/jobs)
endfunction()
