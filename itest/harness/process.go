// Package harness starts and controls the real processes that the
// multi-process tests run against: nats-server nodes, the standalone Clay
// simulator and claybridge replicas. Each process runs in its own process
// group, so a stop or kill reaches everything it started. Every process
// is killed when its test ends or the test binary exits, and otherwise
// by the next test binary, which kills what a dead one left running.
package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotRunning is returned when a process that is not running is asked
// to stop or is waited for.
var ErrNotRunning = errors.New("process is not running")

// Process is one program that can be started, stopped, killed and
// started again with the same arguments. Its standard output and error
// are appended to one log file across restarts.
type Process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	starts int
}

func newProcess(name, path string, args, env []string, logPath string) *Process {
	return &Process{name: name, path: path, args: args, env: env, logPath: logPath}
}

// Name returns the name the process was given in its stack.
func (p *Process) Name() string { return p.name }

// LogPath returns the file that holds the process's output.
func (p *Process) LogPath() string { return p.logPath }

// Start starts the process in a new process group. The kernel kills it
// if the test binary dies (Pdeathsig), and it is recorded so that a later
// test binary kills it if that fails.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.done) {
		return fmt.Errorf("start %s: already running as pid %d", p.name, p.cmd.Process.Pid)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: open log: %w", p.name, err)
	}
	p.starts++
	fmt.Fprintf(logFile, "=== itest: start %d of %s at %s: %s %s\n", p.starts, p.name,
		time.Now().Format(time.RFC3339Nano), p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	track(cmd.Process.Pid, p.path)
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		untrack(cmd.Process.Pid)
		fmt.Fprintf(logFile, "=== itest: %s exited at %s: %v\n", p.name, time.Now().Format(time.RFC3339Nano), exitText(err))
		_ = logFile.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Running reports whether the process has been started and has not
// exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !closed(p.done)
}

// PID returns the process id of the current or last run, or 0.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Starts returns how many times the process was started.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Exited returns a channel closed when the current run exits, or nil
// before the first start.
func (p *Process) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Signal sends sig to the process group of the current run.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || closed(p.done) {
		return fmt.Errorf("signal %s: %w", p.name, ErrNotRunning)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s to %s: %w", sig, p.name, err)
	}
	return nil
}

// Wait waits up to timeout for the current run to exit and returns its
// exit error, nil for exit status 0.
func (p *Process) Wait(timeout time.Duration) error {
	done := p.Exited()
	if done == nil {
		return fmt.Errorf("wait for %s: %w", p.name, ErrNotRunning)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return fmt.Errorf("%s still running %s after it was asked to stop", p.name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop sends SIGTERM and waits up to timeout for the process to exit. A
// process still running then is killed, and the returned error reports
// the timeout.
func (p *Process) Stop(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	err := p.Wait(timeout)
	if p.Running() {
		_ = p.Kill()
		return err
	}
	return err
}

// Kill sends SIGKILL to the process group and waits for the process to
// exit.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	err := p.Wait(30 * time.Second)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return nil
	}
	return err
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string {
	file, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer file.Close()
	var lines []string
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
		if len(lines) > 2*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
