package main_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
)

func TestBinaryOperatorCommands(t *testing.T) {
	bin := buildBinary(t)
	srv, nc := testenv.NATS(t)
	sim := testenv.Sim(t, claysim.Config{})
	proc := testproc.Start(t, nc, sim.URL(), processor.Config{})

	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NATS_URL="+srv.ClientURL())
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		if err != nil {
			t.Fatalf("run claybridge %s: %v", strings.Join(args, " "), err)
		}
		return string(out), 0
	}
	if out, code := run("health"); code != 0 || !strings.Contains(out, proc.Instance()+": healthy, live") {
		t.Errorf("claybridge health: exit status %d, output:\n%s", code, out)
	}
	if out, code := run("results", "no-such-key"); code != 4 || !strings.Contains(out, "no-such-key: not found") {
		t.Errorf("claybridge results: exit status %d, output:\n%s", code, out)
	}
	if out, code := run("dlq", "purge"); code != 2 || !strings.Contains(out, "add --yes") {
		t.Errorf("claybridge dlq purge without --yes: exit status %d, output:\n%s", code, out)
	}
}
