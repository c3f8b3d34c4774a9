#pragma once
// Checks the LB client against the fake runner's scripted behaviours: that
// each 2018 LB mode frames, streams, cancels and judges outcomes as the real
// LBs did. Lives here because the unit tests do not link the client.
namespace fnr::bench {

// Prints one line per check; returns the process exit code.
int run_selftest();

}  // namespace fnr::bench
