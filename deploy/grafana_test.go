package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
)

// descRecorder is a prometheus.Registerer that records the name and
// variable labels of each metric family registered with it.
type descRecorder struct {
	mu       sync.Mutex
	families map[string][]string
}

var _ prometheus.Registerer = (*descRecorder)(nil)

// descFields reads a Desc's name and variable labels from its String
// form, the only place client_golang shows them.
var descFields = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

func (r *descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range ch {
		m := descFields.FindStringSubmatch(d.String())
		if m == nil {
			continue
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		r.families[m[1]] = labels
	}
	return nil
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *descRecorder) Unregister(prometheus.Collector) bool { return true }

// registeredFamilies runs a processor and returns the metric families it
// registers, with their labels, plus the Go and process collectors that
// "claybridge run" adds.
func registeredFamilies(t *testing.T) map[string][]string {
	t.Helper()
	rec := &descRecorder{families: map[string][]string{}}
	rec.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	_, nc := testenv.NATS(t)
	sim := testenv.Sim(t, claysim.Config{})
	p := testproc.Start(t, nc, sim.URL(), processor.Config{Registerer: rec})
	p.Stop(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.families
}

// Labels every scraped series has, and those PromQL adds or reads.
var (
	targetLabels  = []string{"instance", "job"}
	promqlLabels  = []string{"le"}
	promqlKeyword = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
		"unless", "offset", "inf", "nan"}
	// up is the series Prometheus itself writes for each scrape.
	scrapeSeries = []string{"up"}
)

var (
	quoted       = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	rangeOrSub   = regexp.MustCompile(`\[[^\]]*\]`)
	identifier   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	matcherBlock = regexp.MustCompile(`\{([^}]*)\}`)
	matcherLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	grouping     = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
)

// promqlUse is what one PromQL expression reads: metric names and label
// names.
type promqlUse struct {
	metrics []string
	labels  []string
}

// parsePromQL finds the metric and label names of expr. It handles the
// subset the dashboard uses: selectors with matchers, range vectors,
// aggregations with by or without, and function calls.
func parsePromQL(expr string) promqlUse {
	var use promqlUse
	for _, m := range matcherBlock.FindAllStringSubmatch(expr, -1) {
		for _, l := range matcherLabel.FindAllStringSubmatch(quoted.ReplaceAllString(m[1], `""`), -1) {
			use.labels = append(use.labels, l[1])
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				use.labels = append(use.labels, l)
			}
		}
	}
	rest := grouping.ReplaceAllString(expr, " ")
	rest = matcherBlock.ReplaceAllString(quoted.ReplaceAllString(rest, `""`), " ")
	rest = rangeOrSub.ReplaceAllString(rest, " ")
	for _, loc := range identifier.FindAllStringIndex(rest, -1) {
		name := rest[loc[0]:loc[1]]
		after := strings.TrimLeft(rest[loc[1]:], " ")
		if strings.HasPrefix(after, "(") || slices.Contains(promqlKeyword, strings.ToLower(name)) {
			continue
		}
		use.metrics = append(use.metrics, name)
	}
	return use
}

// parseQuery parses a panel's PromQL expression, or a templating query
// label_values(SELECTOR, LABEL) of Grafana's Prometheus data source.
func parseQuery(query string) promqlUse {
	inner, ok := strings.CutPrefix(query, "label_values(")
	if !ok {
		return parsePromQL(query)
	}
	inner = strings.TrimSuffix(inner, ")")
	comma := strings.LastIndex(inner, ",")
	use := parsePromQL(inner[:comma])
	use.labels = append(use.labels, strings.TrimSpace(inner[comma+1:]))
	return use
}

// familyOf returns the registered family of a series name, accepting the
// _bucket, _sum and _count series of a histogram or summary.
func familyOf(families map[string][]string, name string) (string, bool) {
	if _, ok := families[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if _, ok := families[base]; ok {
				return base, true
			}
		}
	}
	return "", false
}

// dashboardQueries returns every "expr" and templating "query" string in
// a dashboard, with a label saying where it is.
func dashboardQueries(v any, where string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		title, _ := v["title"].(string)
		if title != "" {
			where = title
		}
		for key, value := range v {
			if s, ok := value.(string); ok && (key == "expr" || (key == "query" && strings.Contains(s, "("))) {
				out[where+": "+s] = s
				continue
			}
			dashboardQueries(value, where, out)
		}
	case []any:
		for _, item := range v {
			dashboardQueries(item, where, out)
		}
	}
}

func TestGrafanaDashboardUsesRegisteredMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana/dashboards/claybridge.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard map[string]any
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("grafana/dashboards/claybridge.json: %v", err)
	}
	queries := map[string]string{}
	dashboardQueries(dashboard, "dashboard", queries)
	if len(queries) < 10 {
		t.Fatalf("dashboard has %d queries, want its panels' queries", len(queries))
	}
	families := registeredFamilies(t)
	used := map[string]bool{}
	for where, expr := range queries {
		use := parseQuery(expr)
		if len(use.metrics) == 0 {
			t.Errorf("%s: no metric found", where)
		}
		allowedLabels := slices.Concat(targetLabels, promqlLabels)
		for _, name := range use.metrics {
			if slices.Contains(scrapeSeries, name) {
				continue
			}
			family, ok := familyOf(families, name)
			if !ok {
				t.Errorf("%s: %s is not a metric claybridge registers", where, name)
				continue
			}
			used[family] = true
			allowedLabels = append(allowedLabels, families[family]...)
		}
		for _, label := range use.labels {
			if !slices.Contains(allowedLabels, label) {
				t.Errorf("%s: label %s is on none of its metrics", where, label)
			}
		}
	}
	for _, family := range []string{"claybridge_requests_total", "claybridge_clay_call_seconds", "claybridge_dlq_entries_total",
		"claybridge_breaker_state", "claybridge_holds", "claybridge_rate_tokens", "claybridge_retries_total",
		"claybridge_cache_hits_total"} {
		if _, ok := families[family]; !ok {
			t.Errorf("claybridge no longer registers %s", family)
		}
		if !used[family] {
			t.Errorf("dashboard has no panel for %s", family)
		}
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	var datasources struct {
		Datasources []struct {
			UID string `yaml:"uid"`
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &datasources)
	if len(datasources.Datasources) != 1 {
		t.Fatalf("%d datasources, want 1", len(datasources.Datasources))
	}
	uid := datasources.Datasources[0].UID
	data, err := os.ReadFile("grafana/dashboards/claybridge.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"uid":\s*"([^"]*)"`).FindAllStringSubmatch(string(data), -1) {
		if m[1] != uid && m[1] != "claybridge" {
			t.Errorf("dashboard uses datasource uid %q, want %q", m[1], uid)
		}
	}
	if !strings.Contains(datasources.Datasources[0].URL, "prometheus:9090") {
		t.Errorf("datasource URL %s, want the prometheus service", datasources.Datasources[0].URL)
	}

	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/claybridge.yml", &providers)
	project := loadProject(t, composeFile)
	grafana := project.Services["grafana"]
	for _, p := range providers.Providers {
		mounted := false
		for _, v := range grafana.Volumes {
			if v.Target == p.Options.Path && strings.HasSuffix(v.Source, "grafana/dashboards") {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("dashboard provider reads %s, where compose does not mount grafana/dashboards", p.Options.Path)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
