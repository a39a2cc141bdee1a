// Ctrl-C, SIGTERM and a hang-up for a program that runs jobs: a process-wide
// flag set by a signal handler, which the engine and the input readers poll,
// so a run stops at any phase within a fraction of a second. The handlers
// have no SA_RESTART: a blocking open or read ends with EINTR and its caller
// checks interrupted(). Its own
// header so that a reader of inputs needs nothing of the engine.
//
// Thread-safety: the flag is a sig_atomic_t, read from any thread; install
// the handlers once, from main, before starting threads or workers. Workers
// ignore SIGINT and SIGHUP (the master decides what Ctrl-C means).
#pragma once

#include <stdexcept>

namespace mr {

// Thrown by the engine (and by a read from a stream input) once the flag is
// set: the engine stops its workers and cleans up first.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

// Installs SIGINT, SIGTERM and SIGHUP handlers that set the flag; SIGHUP is
// left alone when it was ignored at start (nohup).
void install_interrupt_handlers();
// True once one of them arrived after install_interrupt_handlers().
bool interrupted() noexcept;

}  // namespace mr
