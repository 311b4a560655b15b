package deploy

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"

	"github.com/claybridge/claybridge/config"
)

// Compose files and the local files they need, made from the examples.
const (
	composeFile     = "docker-compose.yml"
	composeClayFile = "docker-compose.clay.yml"
)

var localCopies = map[string]string{
	".env":                 ".env.example",
	"clay.env":             "clay.env.example",
	"claybridge.clay.yaml": "claybridge.clay.example.yaml",
}

// loadProject loads compose files from a copy of this folder in which the
// local credential files are made from their examples, as README.md
// describes.
func loadProject(t *testing.T, files ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatalf("copy the deploy folder: %v", err)
	}
	for local, example := range localCopies {
		data, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, local), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f)
	}
	opts, err := cli.NewProjectOptions(paths, cli.WithWorkingDirectory(dir), cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	project, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("load %s: %v", strings.Join(files, " + "), err)
	}
	return project
}

// claybridgeServices returns the services that run "claybridge run".
func claybridgeServices(project *types.Project) []types.ServiceConfig {
	var found []types.ServiceConfig
	for _, name := range project.ServiceNames() {
		s := project.Services[name]
		if len(s.Command) >= 2 && s.Command[0] == "claybridge" && s.Command[1] == "run" {
			found = append(found, s)
		}
	}
	slices.SortFunc(found, func(a, b types.ServiceConfig) int { return strings.Compare(a.Name, b.Name) })
	return found
}

// natsServices returns the names of the services that run the nats image.
func natsServices(project *types.Project) []string {
	var names []string
	for _, name := range project.ServiceNames() {
		if strings.HasPrefix(project.Services[name].Image, "nats:") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// serviceRunConfig loads the configuration of a claybridge service from
// its command and environment. Paths under /run/secrets/ are replaced by
// files holding the secrets' content, as Compose mounts them.
func serviceRunConfig(t *testing.T, project *types.Project, s types.ServiceConfig) *config.Config {
	t.Helper()
	mounted := map[string]string{}
	for _, ref := range s.Secrets {
		secret, ok := project.Secrets[ref.Source]
		if !ok {
			t.Fatalf("%s: secret %s is not defined", s.Name, ref.Source)
		}
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		path := secret.File
		if secret.Environment != "" {
			value, ok := project.Environment[secret.Environment]
			if !ok || value == "" {
				t.Fatalf("secret %s: variable %s is not set", ref.Source, secret.Environment)
			}
			path = filepath.Join(t.TempDir(), ref.Source)
			if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		mounted[target] = path
	}
	args := slices.Clone([]string(s.Command[2:]))
	for i, arg := range args {
		for target, path := range mounted {
			args[i] = strings.ReplaceAll(args[i], "="+target, "="+path)
		}
		if strings.Contains(args[i], "/run/secrets/") {
			t.Errorf("%s: %s names a secret the service does not mount", s.Name, arg)
		}
	}
	env := map[string]string{}
	for name, value := range s.Environment {
		if value != nil {
			env[name] = *value
		}
	}
	return loadRunConfig(t, args, env)
}

func TestComposeWithSimulator(t *testing.T) {
	project := loadProject(t, composeFile)
	checkProject(t, project)
	sim, ok := project.Services["claysim"]
	if !ok {
		t.Fatal("no claysim service")
	}
	simListen := flagValue(sim.Command, "--listen")
	if host, _, _ := strings.Cut(simListen, ":"); host != "0.0.0.0" {
		t.Errorf("claysim listens on %q, want 0.0.0.0:PORT inside the network", simListen)
	}
	for _, s := range claybridgeServices(project) {
		cfg := serviceRunConfig(t, project, s)
		u, err := url.Parse(cfg.Clay.URL)
		if err != nil || u.Hostname() != "claysim" || u.Port() != strings.TrimPrefix(simListen, "0.0.0.0:") {
			t.Errorf("%s: --clay-url %q, want the claysim service at its --listen port (%s)", s.Name, cfg.Clay.URL, simListen)
		}
		if dep := s.DependsOn["claysim"]; dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends on claysim with condition %q, want %s", s.Name, dep.Condition, types.ServiceConditionHealthy)
		}
	}
	checkCommandParses(t, "claysim command", sim.Command)
}

func TestComposeWithRealClay(t *testing.T) {
	project := loadProject(t, composeFile, composeClayFile)
	checkProject(t, project)
	if _, ok := project.Services["claysim"]; ok {
		t.Error("claysim runs with docker-compose.clay.yml, want it only under a profile")
	}
	for _, s := range claybridgeServices(project) {
		if _, ok := s.DependsOn["claysim"]; ok {
			t.Errorf("%s still depends on claysim", s.Name)
		}
		cfg := serviceRunConfig(t, project, s)
		if cfg.Clay.URL != "" {
			t.Errorf("%s: --clay-url %q, want real Clay", s.Name, cfg.Clay.URL)
		}
		if cfg.Clay.APIKey.IsZero() {
			t.Errorf("%s: no Clay API key from clay.env", s.Name)
		}
		leads, ok := cfg.Tables["leads"]
		if !ok || leads.Token.IsZero() {
			t.Errorf("%s: table leads missing or without its token from clay.env: %+v", s.Name, cfg.Tables)
		}
	}
}

// checkProject checks what both compose variants share.
func checkProject(t *testing.T, project *types.Project) {
	t.Helper()
	replicas := claybridgeServices(project)
	if len(replicas) != 2 {
		t.Fatalf("%d services run claybridge, want 2 replicas", len(replicas))
	}
	for _, s := range replicas {
		checkClaybridgeService(t, project, s)
	}
	checkNATSServices(t, project)
	checkPrometheus(t, replicas)
	for _, name := range project.ServiceNames() {
		s := project.Services[name]
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
		if len(s.HealthCheck.Test) > 1 && s.HealthCheck.Test[1] == "claybridge" {
			checkCommandParses(t, name+" health check", s.HealthCheck.Test[1:])
		}
		for _, p := range s.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes port %d on %q, want 127.0.0.1 only", name, p.Target, p.HostIP)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume {
				if _, ok := project.Volumes[v.Source]; !ok {
					t.Errorf("service %s mounts volume %s, which is not a named volume", name, v.Source)
				}
			}
		}
	}
}

func checkClaybridgeService(t *testing.T, project *types.Project, s types.ServiceConfig) {
	t.Helper()
	cfg := serviceRunConfig(t, project, s)
	if cfg.NATS.Embedded || cfg.Sim.Enabled {
		t.Errorf("%s: runs an embedded NATS server or the in-process simulator", s.Name)
	}
	if cfg.Processor.Replicas != 3 {
		t.Errorf("%s: --replicas %d, want 3 on a three-node cluster", s.Name, cfg.Processor.Replicas)
	}

	var hosts []string
	for _, raw := range strings.Split(cfg.NATS.URL, ",") {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("%s: invalid NATS URL %q", s.Name, raw)
			continue
		}
		hosts = append(hosts, u.Hostname())
	}
	slices.Sort(hosts)
	if want := natsServices(project); !slices.Equal(hosts, want) {
		t.Errorf("%s: --nats-url names %v, want every NATS service %v", s.Name, hosts, want)
	}
	if cfg.NATS.User != "claybridge" || cfg.NATS.Password.Reveal() != project.Environment["NATS_CLAYBRIDGE_PASSWORD"] {
		t.Errorf("%s: connects as %q without the password nats.conf gives the claybridge user", s.Name, cfg.NATS.User)
	}

	host, _, _ := strings.Cut(cfg.HTTP.Listen, ":")
	if port := listenPort(t, cfg.HTTP.Listen); host != "0.0.0.0" || port != defaultHTTPPort(t) {
		t.Errorf("%s: --http-listen %s, want 0.0.0.0 on the default port %d", s.Name, cfg.HTTP.Listen, defaultHTTPPort(t))
	}
	callbackHost, _, _ := strings.Cut(cfg.Callback.Listen, ":")
	defaultCallbackPort := listenPort(t, config.Default().Callback.Listen)
	if callbackHost != "0.0.0.0" || listenPort(t, cfg.Callback.Listen) != defaultCallbackPort {
		t.Errorf("%s: --callback-listen %s, want 0.0.0.0 on the default port %d", s.Name, cfg.Callback.Listen, defaultCallbackPort)
	}
	if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= cfg.Processor.ShutdownGrace {
		t.Errorf("%s: stop_grace_period %v, want more than the shutdown grace %s", s.Name, s.StopGracePeriod, cfg.Processor.ShutdownGrace)
	}
	wantProbe := []string{"CMD", "claybridge", "probe"}
	healthURL := "http://127.0.0.1:" + cfg.HTTP.Listen[strings.LastIndex(cfg.HTTP.Listen, ":")+1:] + "/healthz"
	if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test[:min(3, len(s.HealthCheck.Test))], wantProbe) ||
		!slices.Contains(s.HealthCheck.Test, healthURL) {
		t.Errorf("%s: health check %v, want claybridge probe of %s", s.Name, s.HealthCheck, healthURL)
	}

	for _, nats := range natsServices(project) {
		if dep := s.DependsOn[nats]; dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends on %s with condition %q, want %s", s.Name, nats, dep.Condition, types.ServiceConditionHealthy)
		}
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("%s: want a read-only root file system and every capability dropped", s.Name)
	}
}

// checkNATSServices checks the three NATS nodes against nats/nats.conf
// and the nats-server version claybridge is tested with.
func checkNATSServices(t *testing.T, project *types.Project) {
	t.Helper()
	names := natsServices(project)
	if len(names) != 3 {
		t.Fatalf("NATS services %v, want 3", names)
	}
	t.Setenv("NATS_SERVER_NAME", "check")
	t.Setenv("NATS_CLAYBRIDGE_PASSWORD", "check")
	t.Setenv("NATS_CLIENT_PASSWORD", "check")
	opts, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatalf("nats/nats.conf: %v", err)
	}
	var routes []string
	for _, r := range opts.Routes {
		routes = append(routes, r.Hostname())
	}
	slices.Sort(routes)
	if !slices.Equal(routes, names) {
		t.Errorf("nats.conf routes to %v, want the NATS services %v", routes, names)
	}

	wantTag := "nats:" + majorMinor(requiredVersion(t, "github.com/nats-io/nats-server/v2")) + "-alpine"
	for _, name := range names {
		s := project.Services[name]
		if s.Image != wantTag {
			t.Errorf("%s: image %s, want %s, the nats-server version claybridge is tested with", name, s.Image, wantTag)
		}
		if got := s.Environment["NATS_SERVER_NAME"]; got == nil || *got != name {
			t.Errorf("%s: NATS_SERVER_NAME %v, want %s", name, got, name)
		}

		conf := flagValue(s.Command, "--config")
		mounted := slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Target == conf && filepath.Base(v.Source) == "nats.conf"
		})
		if !mounted {
			t.Errorf("%s: --config %q is not nats/nats.conf mounted", name, conf)
		}
		data := slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == filepath.Dir(opts.StoreDir)
		})
		if !data {
			t.Errorf("%s: no named volume holds the JetStream directory %s", name, opts.StoreDir)
		}
	}
}

// checkPrometheus checks that Prometheus scrapes every replica's /metrics.
func checkPrometheus(t *testing.T, replicas []types.ServiceConfig) {
	t.Helper()
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	data, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &prom); err != nil {
		t.Fatalf("prometheus/prometheus.yml: %v", err)
	}
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName != "claybridge" {
			continue
		}
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job claybridge scrapes %s, want /metrics", sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	var want []string
	for _, s := range replicas {
		want = append(want, s.Name+":"+strings.TrimPrefix(config.Default().HTTP.Listen, "127.0.0.1:"))
	}
	slices.Sort(targets)
	if !slices.Equal(targets, want) {
		t.Errorf("Prometheus job claybridge scrapes %v, want %v", targets, want)
	}
}

// flagValue returns the value of a flag in args, given as --name=value or
// --name value.
func flagValue(args []string, name string) string {
	for i, arg := range args {
		if value, ok := strings.CutPrefix(arg, name+"="); ok {
			return value
		}
		if arg == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// secretName matches environment variables that hold credentials.
var secretName = regexp.MustCompile(`(?i)(password|token|api_key|secret)[A-Z_]*:\s*(.*)$`)

func TestComposeFilesHoldNoSecrets(t *testing.T) {
	for _, name := range []string{composeFile, composeClayFile} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		scanner := bufio.NewScanner(f)
		for line := 1; scanner.Scan(); line++ {
			m := secretName.FindStringSubmatch(scanner.Text())
			if m == nil || strings.HasPrefix(strings.TrimSpace(scanner.Text()), "#") {
				continue
			}
			if value := strings.TrimSpace(m[2]); value != "" && !strings.HasPrefix(value, "${") {
				t.Errorf("%s:%d sets a credential to a literal value; take it from deploy/.env", name, line)
			}
		}
		f.Close()
	}
	for local, example := range localCopies {
		data, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			key, value, ok := strings.Cut(line, "=")
			if ok && !strings.HasPrefix(key, "#") && !strings.Contains(value, "replace-with") {
				t.Errorf("%s: %s is not a placeholder", example, key)
			}
		}
		checkIgnored(t, local)
	}
}

// checkIgnored checks that .gitignore and the build context's
// .dockerignore both leave out a local credential file of this folder.
func checkIgnored(t *testing.T, local string) {
	t.Helper()
	gitignore, err := os.ReadFile(".gitignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(gitignore), "\n"), local) {
		t.Errorf(".gitignore does not list %s", local)
	}
	f, err := os.Open("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{"deploy/" + local: true, "cmd/claybridge/main.go": false, "go.mod": false,
		"deploy/" + localCopies[local]: false} {
		if got, err := pm.MatchesOrParentMatches(path); err != nil || got != want {
			t.Errorf(".dockerignore excludes %s: %t, want %t (error %v)", path, got, want, err)
		}
	}
}

func TestComposeCallbacksBehindOnePort(t *testing.T) {
	project := loadProject(t, "docker-compose.yml")
	lb, ok := project.Services["callbacks"]
	if !ok {
		t.Fatal("no callbacks service in front of the replicas' callback listeners")
	}
	if len(lb.Ports) != 1 || lb.Ports[0].Published != "8090" {
		t.Errorf("callbacks service publishes %+v, want exactly port 8090", lb.Ports)
	}
	conf, err := os.ReadFile("nginx/callbacks.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range claybridgeServices(project) {
		listen := ""
		for _, arg := range s.Command {
			if v, ok := strings.CutPrefix(arg, "--callback-listen="); ok {
				listen = v
			}
		}
		_, port, _ := strings.Cut(listen, ":")
		if port == "" || !strings.Contains(string(conf), s.Hostname+":"+port) {
			t.Errorf("nginx/callbacks.conf does not proxy to %s:%s (its --callback-listen %q)", s.Hostname, port, listen)
		}
	}
}
