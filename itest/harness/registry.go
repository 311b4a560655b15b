package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// stateDirName names the directory under os.TempDir where each test
// binary lists the processes it started, in <pid>.json, and keeps the
// binaries it built, in bin-<pid>, so that the next test binary can kill
// and remove what a dead one left behind.
const (
	stateDirName = "claybridge-itest"
	binDirPrefix = "bin-"
)

func stateDir() string { return filepath.Join(os.TempDir(), stateDirName) }

// record is one started process: its pid, its program, and its start
// time in clock ticks since boot (field 22 of /proc/<pid>/stat), which
// distinguishes it from a later process that reuses the pid.
type record struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	Path  string `json:"path"`
}

var registry struct {
	mu   sync.Mutex
	file string
	live map[int]record
}

// Main runs the tests of a test binary. It first kills the processes
// that earlier test binaries left running when they died. It builds the
// binaries before m runs (unless -short), so that no test's time cap
// includes the build. After m, it kills whatever still runs and removes
// the binaries. A TestMain calls it, after flag.Parse, as
// os.Exit(harness.Main(m)).
func Main(m *testing.M) int {
	dir := stateDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "itest: create %s: %v\n", dir, err)
		return 1
	}
	if killed := sweepLeftovers(dir); killed > 0 {
		fmt.Fprintf(os.Stderr, "itest: killed %d processes left running by earlier test binaries\n", killed)
	}
	registry.mu.Lock()
	registry.file = filepath.Join(dir, strconv.Itoa(os.Getpid())+".json")
	registry.live = map[int]record{}
	registry.mu.Unlock()
	defer removeBuilds()
	if !testing.Short() {
		if _, _, _, err := Binaries(); err != nil {
			fmt.Fprintf(os.Stderr, "itest: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "itest: %s, %s\n", NATSServerVersion(), runtime.Version())
	}

	code := m.Run()

	killAll()
	_ = os.Remove(registry.file)
	return code
}

// track records a started process.
func track(pid int, path string) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.live == nil {
		registry.live = map[int]record{}
	}
	registry.live[pid] = record{PID: pid, Start: startTime(pid), Path: path}
	saveLocked()
}

// untrack removes a process that exited from the records.
func untrack(pid int) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.live, pid)
	saveLocked()
}

func saveLocked() {
	if registry.file == "" {
		return
	}
	list := make([]record, 0, len(registry.live))
	for _, r := range registry.live {
		list = append(list, r)
	}
	data, err := json.Marshal(list)
	if err != nil {
		return
	}
	tmp := registry.file + ".tmp"
	if os.WriteFile(tmp, data, 0o644) == nil {
		_ = os.Rename(tmp, registry.file)
	}
}

// killAll kills the process group of every process still running.
func killAll() {
	registry.mu.Lock()
	list := make([]record, 0, len(registry.live))
	for _, r := range registry.live {
		list = append(list, r)
	}
	registry.mu.Unlock()
	for _, r := range list {
		killRecord(r)
	}
}

// sweepLeftovers kills the processes listed by test binaries that are no
// longer running, and removes their lists and binaries. It returns how
// many processes it killed.
func sweepLeftovers(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	killed := 0
	for _, entry := range entries {
		path := filepath.Join(dir, entry.Name())
		if owner, err := strconv.Atoi(strings.TrimPrefix(entry.Name(), binDirPrefix)); err == nil && entry.IsDir() {
			if !alive(owner) {
				_ = os.RemoveAll(path)
			}
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSuffix(entry.Name(), ".json"))
		if err != nil || !strings.HasSuffix(entry.Name(), ".json") || alive(owner) {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var list []record
		if json.Unmarshal(data, &list) == nil {
			for _, r := range list {
				if killRecord(r) {
					killed++
				}
			}
		}
		_ = os.Remove(path)
	}
	return killed
}

// killRecord kills r's process group if r's process still runs, that is
// the pid exists with the start time recorded. It reports whether it
// sent the signal.
func killRecord(r record) bool {
	if r.Start == 0 || startTime(r.PID) != r.Start {
		return false
	}
	return syscall.Kill(-r.PID, syscall.SIGKILL) == nil
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// startTime returns the start time of pid in clock ticks since boot, or
// 0 when it cannot be read.
func startTime(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may contain
	// spaces, so the fields are counted from the last ')'.
	text := string(data)
	end := strings.LastIndexByte(text, ')')
	if end < 0 {
		return 0
	}
	fields := strings.Fields(text[end+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0
	}
	return ticks
}
