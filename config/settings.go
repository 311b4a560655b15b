package config

import (
	"fmt"
	"reflect"
	"strings"
)

// To add a setting, add a field with a yaml tag to its section struct in
// config.go and give it a default in Default. Then add one entry to
// settings below, map the field onto its component (ProcessorConfig, for
// example) and check its value in Validate. Last, run
// "go test ./config -update" to regenerate the table in
// docs/configuration.md.

// setting describes one scalar setting: its YAML key, flag, environment
// variables and help text. Its type and default come from its Config
// field, found by the YAML key.
type setting struct {
	// key is the setting's YAML path, such as "processor.ack_wait".
	key string
	// flag is the command-line flag without dashes; empty for none.
	flag string
	// envAliases are read after the derived CLAYBRIDGE_* variable.
	envAliases []string
	usage      string
	// secret marks a setting read only from its environment variable, by
	// ResolveSecrets; files and flags cannot set it.
	secret bool
}

// envPrefix starts the environment variable of every setting.
const envPrefix = "CLAYBRIDGE_"

// envConfig names the configuration file, like --config.
const envConfig = envPrefix + "CONFIG"

var settings = []setting{
	{key: "nats.url", flag: "nats-url", envAliases: []string{"NATS_URL"},
		usage: "NATS server URL(s), comma-separated"},
	{key: "nats.embedded", flag: "embedded-nats",
		usage: "start an embedded NATS server with JetStream instead of connecting to one"},
	{key: "nats.listen", flag: "nats-listen", usage: "client address of the embedded NATS server (host:port)"},
	{key: "nats.data_dir", flag: "data-dir", usage: "directory of the embedded NATS server's JetStream files"},

	{key: "clay.url", flag: "clay-url",
		usage: "base URL of Clay for both the webhook and Public API surfaces, for example a standalone claysim; empty means real Clay"},
	{key: "clay.api_key", secret: true, usage: "Clay Public API key (environment only)"},
	{key: "clay.connect_timeout", flag: "connect-timeout", usage: "timeout of dialing Clay and the TLS handshake"},
	{key: "clay.api_key_file", flag: "clay-api-key-file", usage: "file holding the Clay Public API key"},

	{key: "sim.enabled", flag: "sim", usage: "start the Clay simulator in-process and send every Clay call to it"},
	{key: "sim.listen", flag: "sim-listen", usage: "address of the in-process Clay simulator (host:port)"},

	{key: "http.listen", flag: "http-listen", usage: "address serving /healthz, /readyz and /metrics (host:port)"},

	{key: "log.level", flag: "log-level", usage: "log level: debug, info, warn or error"},
	{key: "log.format", flag: "log-format", usage: "log format: auto (console on a terminal, else JSON), json or console"},

	{key: "processor.workers.critical", flag: "workers-critical", usage: "worker pool size for critical requests"},
	{key: "processor.workers.normal", flag: "workers-normal", usage: "worker pool size for normal requests"},
	{key: "processor.workers.bulk", flag: "workers-bulk", usage: "worker pool size for bulk requests"},
	{key: "processor.rate_limit", flag: "rate-limit", usage: "webhook records per second for the Clay workspace; 0 for no limit"},
	{key: "processor.burst", flag: "burst", usage: "webhook records the budget may spend at once"},
	{key: "processor.ack_wait", flag: "ack-wait", usage: "consumers' ack wait; long calls send InProgress every third of it"},
	{key: "processor.max_deliver", flag: "max-deliver", usage: "deliveries of a request before it is dead-lettered"},
	{key: "processor.request_timeout", flag: "request-timeout", usage: "timeout of one Clay HTTP call"},
	{key: "processor.upload_timeout", flag: "upload-timeout", usage: "timeout of one push of rows to a webhook source"},
	{key: "processor.long_poll_timeout", flag: "long-poll-timeout", usage: "how long a routine run is awaited"},
	{key: "processor.routine_poll_interval", flag: "routine-poll-interval", usage: "wait between polls of a routine run"},
	{key: "processor.retry_base", flag: "retry-base", usage: "first retry delay, doubled per attempt (at least 1s)"},
	{key: "processor.retry_max", flag: "retry-max", usage: "largest retry delay"},
	{key: "processor.heartbeat_interval", flag: "heartbeat-interval", usage: "interval between heartbeats on clay.health.<instance>"},
	{key: "processor.duplicate_window", flag: "duplicate-window", usage: "Nats-Msg-Id dedupe window of streams claybridge creates"},
	{key: "processor.replicas", flag: "replicas", usage: "replicas of streams and buckets claybridge creates: 1 or 3"},
	{key: "processor.shutdown_grace", flag: "shutdown-grace", usage: "how long a shutdown waits for in-flight Clay calls before giving them back"},
	{key: "processor.breaker.failures", flag: "breaker-failures", usage: "unhealthy Clay outcomes in a row that open a surface's breaker"},
	{key: "processor.breaker.successes", flag: "breaker-successes", usage: "successful probes that close a half-open breaker"},
	{key: "processor.breaker.open_timeout", flag: "breaker-open-timeout", usage: "how long a breaker stays open before it lets a probe through"},
	{key: "processor.probe_interval", flag: "probe-interval", usage: "wait between probes of a hold (401, 402)"},
	{key: "processor.max_parked", flag: "max-parked", usage: "messages parked while holds last; fetching stops at this bound"},
	{key: "processor.retry_after_min", flag: "retry-after-min", usage: "shortest pause honoured from Clay's Retry-After"},
	{key: "processor.retry_after_max", flag: "retry-after-max", usage: "longest pause honoured from Clay's Retry-After"},
	{key: "processor.rate_limit_pause", flag: "rate-limit-pause", usage: "pause after a 429 without Retry-After"},
	{key: "processor.guaranteed_share", flag: "guaranteed-share", usage: "a priority with backlog gets at least one rate token in this many"},
	{key: "processor.cache.disabled", flag: "cache-disabled", usage: "turn the fallback cache off: no cached or fallback answers"},
	{key: "processor.cache.first_search", flag: "cache-first", usage: "answer a search from a fresh cache entry without calling Clay"},
	{key: "processor.cache.first_routine", flag: "cache-first-routine", usage: "answer a routine from a fresh cache entry without calling Clay"},
	{key: "processor.cache.memory_mb", flag: "cache-memory-mb", usage: "memory budget of the in-process cache tier, in MiB"},
	{key: "processor.cache.fresh_max_age", flag: "cache-fresh-max-age", usage: "age under which a cache entry is fresh"},
	{key: "processor.cache.stale_max_age", flag: "cache-stale-max-age", usage: "age under which a cache entry is stale; older ones are very_stale"},
}

// tableSettings document the keys of one entry under tables. They have no
// flag or environment variable.
var tableSettings = []setting{
	{key: "tables.<name>.webhook_url", usage: "URL of the table's webhook source (required)"},
	{key: "tables.<name>.token_env", usage: "environment variable holding the webhook token"},
	{key: "tables.<name>.token_file", usage: "file holding the webhook token"},
}

// env returns the environment variables of s, the first set one winning.
func (s setting) env() []string {
	derived := envPrefix + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
	return append([]string{derived}, s.envAliases...)
}

// describe names s with every way to set it, for error messages.
func (s setting) describe() string {
	var ways []string
	if s.flag != "" {
		ways = append(ways, "--"+s.flag)
	}
	ways = append(ways, s.env()...)
	return s.key + " (" + strings.Join(ways, ", ") + ")"
}

// field returns the Config field of s in cfg.
func (s setting) field(cfg *Config) reflect.Value {
	v, err := fieldByKey(reflect.ValueOf(cfg).Elem(), s.key)
	if err != nil {
		panic(err)
	}
	return v
}

// fieldByKey follows the yaml tags of v's struct fields along key.
func fieldByKey(v reflect.Value, key string) (reflect.Value, error) {
	for _, name := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("config: setting %q: %s is not a section", key, name)
		}
		found := false
		for i := range v.NumField() {
			if yamlName(v.Type().Field(i)) == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, fmt.Errorf("config: setting %q: no field with yaml key %s", key, name)
		}
	}
	return v, nil
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// lookupSetting returns the setting with key.
func lookupSetting(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// describeKey names the setting with key, or returns key itself.
func describeKey(key string) string {
	if s, ok := lookupSetting(key); ok {
		return s.describe()
	}
	return key
}
