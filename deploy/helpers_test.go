package deploy

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"

	"github.com/claybridge/claybridge/config"
)

// loadRunConfig parses the arguments of "claybridge run" with run's own
// flags and loads the configuration they make with env as the
// environment, secrets included, as run would.
func loadRunConfig(t *testing.T, args []string, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := tryLoadRunConfig(args, env)
	if err != nil {
		t.Fatalf("claybridge run %s: %v", strings.Join(args, " "), err)
	}
	return cfg
}

func tryLoadRunConfig(args []string, env map[string]string) (*config.Config, error) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	loader := config.NewLoader(fs)
	loader.LookupEnv = func(name string) (string, bool) {
		value, ok := env[name]
		return value, ok
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	cfg, err := loader.Load()
	if err != nil {
		return nil, err
	}
	if err := cfg.ResolveSecrets(loader.LookupEnv); err != nil {
		return nil, err
	}
	return cfg, nil
}

// defaultHTTPPort is the port of the default http.listen.
func defaultHTTPPort(t *testing.T) int {
	t.Helper()
	return listenPort(t, config.Default().HTTP.Listen)
}

// listenPort returns the port of a host:port address.
func listenPort(t *testing.T, addr string) int {
	t.Helper()
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}

// requiredVersion returns the version of a module that go.mod requires,
// such as "v2.15.3".
func requiredVersion(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == path {
			return fields[1]
		}
	}
	t.Fatalf("go.mod does not require %s", path)
	return ""
}

// majorMinor returns "2.15" for "v2.15.3".
func majorMinor(version string) string {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds claybridge and claysim once per test run and returns
// the directory holding them.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "claybridge-deploy-test-")
		if buildErr != nil {
			return
		}
		var out []byte
		out, buildErr = exec.Command("go", "build", "-o", binDir, "../cmd/claybridge", "../cmd/claysim").CombinedOutput()
		if buildErr != nil {
			buildErr = &buildError{err: buildErr, output: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("build claybridge and claysim: %v", buildErr)
	}
	return binDir
}

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.output }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// checkCommandParses runs a claybridge or claysim command line from a
// deployment file with its arguments and fails when they are invalid. A
// probe may fail to connect (exit status 1), but only invalid arguments
// exit with 2; claysim gets -h appended, so it parses its flags and exits
// without listening.
func checkCommandParses(t *testing.T, label string, argv []string) {
	t.Helper()
	if len(argv) == 0 {
		t.Fatalf("%s: empty command", label)
	}
	bin := filepath.Join(binaries(t), argv[0])
	args := argv[1:]
	switch {
	case argv[0] == "claysim":
		args = append(append([]string(nil), args...), "-h")
	case argv[0] == "claybridge" && len(args) > 0 && args[0] == "probe":
	default:
		t.Fatalf("%s: command %v is neither claysim nor claybridge probe", label, argv)
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code == 2 || (argv[0] == "claysim" && err != nil) {
		t.Errorf("%s: %s exits with status %d, so its arguments are invalid:\n%s", label, strings.Join(argv, " "), code, out)
	}
}
