// `mapreduce streaming map|combine|reduce`: a job as a Hadoop Streaming
// mapper, combiner or reducer (mr/mapreduce/streaming.h does the work).
#pragma once

#include <string>
#include <vector>

namespace mr::cli {

// Runs the subcommand with the arguments after "streaming"; returns the
// exit status: 0 success, 1 the job failed (its map or reduce threw), 2 a
// usage error, a bad input line (its number is in the message) or an output
// error. Throws mr::Interrupted (exit 130 in main).
int streaming(const std::vector<std::string>& args);

}  // namespace mr::cli
