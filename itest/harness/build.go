package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

const modulePath = "github.com/claybridge/claybridge"

var builds struct {
	once    sync.Once
	dir     string
	bridge  string
	sim     string
	natsSrv string
	natsVer string
	err     error
}

// Binaries returns the paths of claybridge, claysim and nats-server. The
// first call builds claybridge and claysim from the working tree into a
// directory of this test binary's own, which Main removes. It finds
// nats-server through go.mod's tool line (go tool -n), which builds it
// the first time. Later calls reuse the binaries.
func Binaries() (bridge, sim, natsServer string, err error) {
	builds.once.Do(func() {
		builds.dir = filepath.Join(stateDir(), binDirPrefix+strconv.Itoa(os.Getpid()))
		if builds.err = os.MkdirAll(builds.dir, 0o755); builds.err != nil {
			return
		}
		builds.bridge = filepath.Join(builds.dir, "claybridge")
		builds.sim = filepath.Join(builds.dir, "claysim")
		for _, b := range []struct{ out, pkg string }{
			{builds.bridge, modulePath + "/cmd/claybridge"},
			{builds.sim, modulePath + "/cmd/claysim"},
		} {
			if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
				builds.err = fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
				return
			}
		}
		out, err := exec.Command("go", "tool", "-n", "nats-server").Output()
		if err != nil {
			builds.err = fmt.Errorf("go tool -n nats-server: %w", err)
			return
		}
		builds.natsSrv = strings.TrimSpace(string(out))
		if out, err := exec.Command(builds.natsSrv, "--version").Output(); err == nil {
			builds.natsVer = strings.TrimSpace(string(out))
		}
	})
	return builds.bridge, builds.sim, builds.natsSrv, builds.err
}

// NATSServerVersion returns what "nats-server --version" printed, once
// Binaries has run.
func NATSServerVersion() string { return builds.natsVer }

func removeBuilds() {
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
}
