package deploy

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/claybridge/claybridge/config"
)

// k8sObject is the part of a Kubernetes manifest the tests read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec k8sSpec           `yaml:"spec"`
	// Resources lists the files of a Kustomization.
	Resources []string `yaml:"resources"`
}

type k8sSpec struct {
	Replicas int `yaml:"replicas"`
	// Selector is a label selector with matchLabels, or a Service's
	// labels.
	Selector map[string]any `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec k8sPodSpec `yaml:"spec"`
	} `yaml:"template"`
	// Ports is a Service's ports.
	Ports []k8sServicePort `yaml:"ports"`
}

type k8sServicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

// selectedLabels returns the labels an object's selector requires.
func (o k8sObject) selectedLabels() map[string]string {
	labels := o.Spec.Selector
	if nested, ok := labels["matchLabels"].(map[string]any); ok {
		labels = nested
	}
	out := map[string]string{}
	for k, v := range labels {
		out[k], _ = v.(string)
	}
	return out
}

type k8sPodSpec struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []k8sContainer `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string  `yaml:"name"`
		Value     *string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe   k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe  k8sProbe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// readManifests decodes every document of every YAML file in k8s/, keyed
// by kind, and returns the file names too.
func readManifests(t *testing.T) (map[string]k8sObject, []string) {
	t.Helper()
	paths, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	objects := map[string]k8sObject{}
	var files []string
	for _, path := range paths {
		files = append(files, filepath.Base(path))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var obj k8sObject
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if obj.Kind == "" || obj.APIVersion == "" {
				t.Errorf("%s: a document without kind or apiVersion", path)
			}
			if _, dup := objects[obj.Kind]; dup {
				t.Errorf("%s: a second %s", path, obj.Kind)
			}
			objects[obj.Kind] = obj
		}
	}
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Kustomization"} {
		if _, ok := objects[kind]; !ok {
			t.Fatalf("k8s/ has no %s", kind)
		}
	}
	return objects, files
}

func TestKubernetesManifests(t *testing.T) {
	objects, files := readManifests(t)
	resources := slices.Clone(objects["Kustomization"].Resources)
	slices.Sort(resources)
	want := slices.DeleteFunc(slices.Clone(files), func(f string) bool { return f == "kustomization.yaml" })
	if !slices.Equal(resources, want) {
		t.Errorf("kustomization.yaml lists %v, want every manifest %v", resources, want)
	}

	deployment := objects["Deployment"]
	labels := deployment.Spec.Template.Metadata.Labels
	for name, value := range deployment.selectedLabels() {
		if labels[name] != value {
			t.Errorf("Deployment selector %s=%s does not match its pod labels %v", name, value, labels)
		}
	}
	if deployment.Spec.Replicas < 2 {
		t.Errorf("Deployment runs %d replicas, want at least 2", deployment.Spec.Replicas)
	}
	pod := deployment.Spec.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Error("pod may run as root; want runAsNonRoot with a numeric user")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation ||
		!c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("container allows privilege escalation or writes its root file system")
	}

	cfgPath, cfg := deploymentConfig(t, objects, c)
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if grace <= cfg.Processor.ShutdownGrace {
		t.Errorf("terminationGracePeriodSeconds %s, want more than the shutdown grace %s", grace, cfg.Processor.ShutdownGrace)
	}
	if cfg.Processor.Replicas != 3 || cfg.NATS.Embedded || cfg.Sim.Enabled || cfg.NATS.URL == "" {
		t.Errorf("%s: replicas %d, embedded NATS %t, simulator %t, NATS URL %q; want 3 replicas on an external NATS",
			cfgPath, cfg.Processor.Replicas, cfg.NATS.Embedded, cfg.Sim.Enabled, cfg.NATS.URL)
	}
	if cfg.Clay.APIKey.IsZero() || cfg.NATS.Password.IsZero() {
		t.Error("the Clay API key or the NATS password does not reach claybridge from the Secrets")
	}
	if cfg.NATS.TLS.CAFile != "" && !underMount(c, pod, cfg.NATS.TLS.CAFile, "secret") {
		t.Errorf("nats.tls.ca_file %s is not in a mounted Secret", cfg.NATS.TLS.CAFile)
	}

	portName := checkListener(t, objects["Service"], c, "http.listen", cfg.HTTP.Listen, config.Default().HTTP.Listen)
	checkListener(t, objects["Service"], c, "callback.listen", cfg.Callback.Listen, config.Default().Callback.Listen)
	for name, probe := range map[string]struct {
		got  k8sProbe
		path string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if probe.got.HTTPGet.Path != probe.path || probe.got.HTTPGet.Port != portName {
			t.Errorf("%s probe GETs %s on port %q, want %s on %q", name, probe.got.HTTPGet.Path, probe.got.HTTPGet.Port,
				probe.path, portName)
		}
	}

	for _, kind := range []string{"Service", "PodDisruptionBudget"} {
		if got, want := objects[kind].selectedLabels(), deployment.selectedLabels(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s selects %v, want the Deployment's pods %v", kind, got, want)
		}
	}
}

// checkListener checks that a listener of the configuration listens on
// 0.0.0.0 at its default port, which is a named container port that the
// Service targets on the same port. It returns the port's name.
func checkListener(t *testing.T, svc k8sObject, c k8sContainer, key, listen, defaultListen string) string {
	t.Helper()
	port := listenPort(t, listen)
	if host, _, _ := strings.Cut(listen, ":"); host != "0.0.0.0" || port != listenPort(t, defaultListen) {
		t.Errorf("%s %s, want 0.0.0.0 on the default port %d", key, listen, listenPort(t, defaultListen))
	}
	name := ""
	for _, p := range c.Ports {
		if p.ContainerPort == port {
			name = p.Name
		}
	}
	if name == "" {
		t.Errorf("%s port %d is not a named container port", key, port)
	}
	served := slices.ContainsFunc(svc.Spec.Ports, func(p k8sServicePort) bool {
		return p.TargetPort == name && p.Port == port
	})
	if !served {
		t.Errorf("Service ports %+v, want port %d targeting %q", svc.Spec.Ports, port, name)
	}
	return name
}

// deploymentConfig loads the configuration the container would run with:
// its arguments, the ConfigMap's file at the path --config names, and its
// environment, in which each Secret reference gets a placeholder value.
// Every environment variable must change the configuration.
func deploymentConfig(t *testing.T, objects map[string]k8sObject, c k8sContainer) (string, *config.Config) {
	t.Helper()
	argv := append(slices.Clone(c.Command), c.Args...)
	if len(argv) < 2 || argv[0] != "claybridge" || argv[1] != "run" {
		t.Fatalf("container runs %v, want claybridge run", argv)
	}
	args := slices.Clone(argv[2:])
	cfgPath := flagValue(args, "--config")
	mountPath, key := filepath.Dir(cfgPath), filepath.Base(cfgPath)
	configMap := objects["ConfigMap"]
	mounted := slices.ContainsFunc(c.VolumeMounts, func(m struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}) bool {
		return m.MountPath == mountPath
	})
	content, ok := configMap.Data[key]
	if !mounted || !ok {
		t.Fatalf("--config %s is not the ConfigMap's key %s mounted at %s", cfgPath, key, mountPath)
	}

	local := filepath.Join(t.TempDir(), key)
	if err := os.WriteFile(local, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, arg := range args {
		if arg == cfgPath {
			args[i] = local
		}
	}

	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.Value != nil:
			env[e.Name] = *e.Value
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "placeholder-" + e.ValueFrom.SecretKeyRef.Key
		default:
			t.Errorf("env %s has neither a value nor a Secret reference", e.Name)
		}
	}

	cfg := loadRunConfig(t, args, env)
	for name := range env {
		without := maps.Clone(env)
		delete(without, name)
		if other, err := tryLoadRunConfig(args, without); err == nil && reflect.DeepEqual(*other, *cfg) {
			t.Errorf("env %s changes nothing in claybridge's configuration", name)
		}
	}
	return cfgPath, cfg
}

// underMount reports whether path is under a mount of a volume of kind
// "secret" or "configMap".
func underMount(c k8sContainer, pod k8sPodSpec, path, kind string) bool {
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && ((kind == "secret" && v.Secret != nil) || (kind == "configMap" && v.ConfigMap != nil)) {
				return true
			}
		}
	}
	return false
}
