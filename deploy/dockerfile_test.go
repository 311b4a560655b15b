package deploy

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// instruction is one Dockerfile instruction: its lowercase name, flags
// and arguments.
type instruction struct {
	name  string
	flags []string
	args  []string
	line  int
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from         string
	alias        string
	instructions []instruction
}

func (s stage) find(name string) []instruction {
	var found []instruction
	for _, in := range s.instructions {
		if in.name == name {
			found = append(found, in)
		}
	}
	return found
}

// parseDockerfile parses the Dockerfile with BuildKit's parser into stages.
func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	result, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	for _, w := range result.Warnings {
		t.Errorf("Dockerfile: %s", w.Short)
	}
	var stages []stage
	for _, node := range result.AST.Children {
		in := instruction{name: strings.ToLower(node.Value), flags: node.Flags, line: node.StartLine}
		for next := node.Next; next != nil; next = next.Next {
			in.args = append(in.args, next.Value)
		}
		if in.name == "from" {
			s := stage{from: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "AS") {
				s.alias = in.args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.name != "arg" {
				t.Errorf("Dockerfile:%d: %s before the first FROM", in.line, in.name)
			}
			continue
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	return stages
}

func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) != 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a final image", len(stages))
	}
	build := stages[0]
	goVersion := majorMinor(goDirective(t))
	if want := "golang:" + goVersion; build.from != want {
		t.Errorf("builder is FROM %s, want %s, the Go of go.mod", build.from, want)
	}

	// BuildKit's parser gives each ENV pair as name, value and separator.
	cgoOff := slices.ContainsFunc(build.find("env"), func(in instruction) bool {
		for i := 0; i+1 < len(in.args); i += 3 {
			if in.args[i] == "CGO_ENABLED" && in.args[i+1] == "0" {
				return true
			}
		}
		return false
	})
	if !cgoOff {
		t.Error("builder does not set CGO_ENABLED=0, so the binaries may need libc")
	}

	var runs strings.Builder
	for _, in := range build.find("run") {
		runs.WriteString(strings.Join(in.args, " "))
	}
	for _, pkg := range []string{"./cmd/claybridge", "./cmd/claysim"} {
		if !strings.Contains(runs.String(), "-o /out/"+strings.TrimPrefix(pkg, "./cmd/")+" "+pkg) {
			t.Errorf("builder does not build %s into /out", pkg)
		}
	}
	if !strings.Contains(runs.String(), "internal/version.Version=${VERSION}") {
		t.Error("builder does not stamp the version into claybridge")
	}
}

func TestDockerfileFinalImage(t *testing.T) {
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final image is FROM %s, want distroless static or scratch", final.from)
	}
	copies := final.find("copy")
	if len(copies) != 1 || !slices.Contains(copies[0].flags, "--from="+stages[0].alias) ||
		!slices.Equal(copies[0].args, []string{"/out/claybridge", "/out/claysim", "/usr/local/bin/"}) {
		t.Errorf("final image copies %+v, want both binaries from the builder into /usr/local/bin/", copies)
	}
	users := final.find("user")
	if len(users) != 1 {
		t.Fatalf("final image has %d USER instructions, want 1", len(users))
	}
	if user, _, _ := strings.Cut(users[0].args[0], ":"); user == "" || user == "0" || user == "root" {
		t.Errorf("final image runs as %q, want a non-root user", users[0].args[0])
	}
	if len(final.find("entrypoint")) != 0 {
		t.Error("final image has an ENTRYPOINT, so the command cannot choose between claybridge and claysim")
	}
	cmds := final.find("cmd")
	if len(cmds) != 1 || !slices.Equal(cmds[0].args, []string{"claybridge", "run"}) {
		t.Errorf("CMD %+v, want [claybridge run]", cmds)
	}
	port := strconv.Itoa(defaultHTTPPort(t))
	exposes := final.find("expose")
	if len(exposes) != 1 || !slices.Equal(exposes[0].args, []string{port}) {
		t.Errorf("EXPOSE %+v, want the default HTTP port %s", exposes, port)
	}
}

func TestDockerfileHealthcheckProbesHealthz(t *testing.T) {
	stages := parseDockerfile(t)
	checks := stages[len(stages)-1].find("healthcheck")
	if len(checks) != 1 {
		t.Fatalf("final image has %d HEALTHCHECK instructions, want 1", len(checks))
	}
	hc := checks[0]
	if len(hc.args) < 2 || hc.args[0] != "CMD" {
		t.Fatalf("HEALTHCHECK %v, want CMD with an exec form", hc.args)
	}
	command := hc.args[1:]
	want := "http://127.0.0.1:" + strconv.Itoa(defaultHTTPPort(t)) + "/healthz"
	if len(command) < 2 || command[0] != "claybridge" || command[1] != "probe" || command[len(command)-1] != want {
		t.Errorf("HEALTHCHECK runs %v, want claybridge probe ... %s", command, want)
	}
	checkCommandParses(t, "Dockerfile HEALTHCHECK", command)

	var timeout time.Duration
	for _, flag := range hc.flags {
		if value, ok := strings.CutPrefix(flag, "--timeout="); ok {
			var err error
			if timeout, err = time.ParseDuration(value); err != nil {
				t.Fatalf("HEALTHCHECK %s: %v", flag, err)
			}
		}
	}
	probeTimeout, err := time.ParseDuration(flagValue(command, "--timeout"))
	if err != nil || timeout == 0 || probeTimeout >= timeout {
		t.Errorf("probe --timeout %s with HEALTHCHECK --timeout %s, want the probe to give up first", probeTimeout, timeout)
	}
}

// goDirective returns the go version of go.mod, such as "1.26.8".
func goDirective(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if version, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(version)
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}
