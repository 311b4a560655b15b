// Package itest holds the multi-process tests of claybridge: real
// nats-server processes (one server or a three-node JetStream cluster), a
// standalone claysim, and several "claybridge run" processes, which the
// tests kill, stop and restart while requests flow. Every scenario checks
// the same guarantees (package suite) and logs its figures. Package
// harness starts and controls the processes.
//
// Run them with "make itest", or "go test -p 1 ./itest/..."; add -soak
// for longer runs, -v to see the figures, and set ITEST_LOG_DIR to keep
// every process's log.
package itest
