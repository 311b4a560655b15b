package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/embedded"
	"github.com/claybridge/claybridge/internal/logging"
	"github.com/claybridge/claybridge/internal/version"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// runOptions are the settings of "claybridge run".
type runOptions struct {
	embeddedNATS bool
	natsListen   string
	dataDir      string
	natsURL      string
	sim          bool
	simListen    string
	clayURL      string
	httpListen   string
	logLevel     string
	logFormat    string
	grace        time.Duration
	proc         processor.Config
	workers      map[subjects.Priority]*int
}

func (o *runOptions) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.embeddedNATS, "embedded-nats", false, "start an embedded NATS server with JetStream instead of connecting to one")
	fs.StringVar(&o.natsListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (host:port)")
	fs.StringVar(&o.dataDir, "data-dir", "./data", "directory of the embedded NATS server's JetStream files")
	fs.StringVar(&o.natsURL, "nats-url", os.Getenv("NATS_URL"), "NATS server URL(s), comma-separated (default $NATS_URL)")
	fs.BoolVar(&o.sim, "sim", false, "start the Clay simulator in-process and send every Clay call to it")
	fs.StringVar(&o.simListen, "sim-listen", "127.0.0.1:8089", "address of the in-process Clay simulator (host:port)")
	fs.StringVar(&o.clayURL, "clay-url", "", "base URL of Clay for both the webhook and Public API surfaces, for example a standalone claysim (default real Clay, "+clay.DefaultBaseURL+")")
	fs.StringVar(&o.httpListen, "http-listen", "127.0.0.1:8080", "address serving /healthz, /readyz and /metrics (host:port)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", logging.FormatAuto, "log format: auto (console on a terminal, else JSON), json or console")
	fs.DurationVar(&o.grace, "shutdown-grace", 25*time.Second, "how long a shutdown waits for in-flight Clay calls before giving them back")
	fs.Float64Var(&o.proc.RateLimit, "rate-limit", processor.DefaultRateLimit, "webhook records per second for the Clay workspace; 0 for no limit")
	fs.IntVar(&o.proc.Burst, "burst", processor.DefaultBurst, "webhook records the budget may spend at once")
	fs.DurationVar(&o.proc.AckWait, "ack-wait", processor.DefaultAckWait, "consumers' ack wait; long calls send InProgress every third of it")
	fs.IntVar(&o.proc.MaxDeliver, "max-deliver", processor.DefaultMaxDeliver, "deliveries of a request before it is dead-lettered")
	fs.DurationVar(&o.proc.RequestTimeout, "request-timeout", processor.DefaultRequestTimeout, "timeout of one Clay HTTP call")
	fs.DurationVar(&o.proc.HeartbeatInterval, "heartbeat-interval", processor.DefaultHeartbeatInterval, "interval between heartbeats on clay.health.<instance>")
	o.workers = map[subjects.Priority]*int{}
	for prio, n := range processor.DefaultWorkers() {
		o.workers[prio] = fs.Int("workers-"+string(prio), n, "worker pool size for "+string(prio)+" requests")
	}
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o runOptions
	fs := newFlagSet("run", "run [flags]", stderr)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: run takes only flags", fs.Arg(0))
	}
	if err := o.check(); err != nil {
		return err
	}
	log, err := logging.New(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	return o.run(ctx, log)
}

// check reports the first missing or conflicting setting by name.
func (o *runOptions) check() error {
	if !o.embeddedNATS && o.natsURL == "" {
		return errors.New("missing NATS URL: set --nats-url or NATS_URL, or add --embedded-nats for a local server")
	}
	if o.embeddedNATS && o.natsURL != "" {
		return errors.New("conflicting settings: --embedded-nats and --nats-url (or NATS_URL); use one")
	}
	if o.sim && o.clayURL != "" {
		return errors.New("conflicting settings: --sim and --clay-url; use one")
	}
	if !o.sim && o.clayURL == "" && os.Getenv("CLAYBRIDGE_CLAY_API_KEY") == "" {
		return errors.New("missing Clay configuration: real Clay needs an API key in CLAYBRIDGE_CLAY_API_KEY; or use --sim for the in-process simulator, or --clay-url URL for a standalone one")
	}
	for prio, n := range o.workers {
		o.proc.Workers = setWorkers(o.proc.Workers, prio, *n)
	}
	if o.proc.RateLimit == 0 {
		o.proc.RateLimit = processor.Unlimited
	}
	return nil
}

func setWorkers(m map[subjects.Priority]int, prio subjects.Priority, n int) map[subjects.Priority]int {
	if m == nil {
		m = map[subjects.Priority]int{}
	}
	m[prio] = n
	return m
}

func (o *runOptions) run(ctx context.Context, log zerolog.Logger) error {
	log.Info().Str("version", version.Version).Msg("claybridge starting")
	natsURL, stopNATS, err := o.startNATS(log)
	if err != nil {
		return err
	}
	defer stopNATS()
	clayURL, apiKey, stopSim, err := o.startSim(ctx, log)
	if err != nil {
		return err
	}
	defer stopSim()

	nc, err := connectNATS(natsURL, log)
	if err != nil {
		return err
	}
	defer nc.Drain()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.proc.Logger, o.proc.Registerer = log, registry
	if o.sim || o.clayURL != "" {
		o.proc.DefaultWebhookBase = clayURL
		log.Info().Str("base_url", clayURL).Msg("tables that are not configured map to webhook sources on the Clay base URL")
	}
	client := clay.New(clay.Config{BaseURL: clayURL, APIKey: apiKey})
	proc, err := processor.New(nc, client, o.proc)
	if err != nil {
		return err
	}
	stopHTTP, err := serveHTTP(o.httpListen, registry, proc, nc, log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	return proc.Run(ctx, o.grace)
}

func (o *runOptions) startNATS(log zerolog.Logger) (string, func(), error) {
	if !o.embeddedNATS {
		return o.natsURL, func() {}, nil
	}
	dir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return "", nil, fmt.Errorf("invalid --data-dir %q: %w", o.dataDir, err)
	}
	srv, err := embedded.Start(embedded.Config{Listen: o.natsListen, DataDir: dir})
	if err != nil {
		return "", nil, err
	}
	log.Info().Str("url", srv.ClientURL()).Str("data_dir", dir).Msg("embedded NATS server started (for local use; production connects to a NATS cluster with --nats-url)")
	return srv.ClientURL(), func() {
		srv.Stop()
		log.Info().Msg("embedded NATS server stopped")
	}, nil
}

// simAPIKey is the API key shared by claybridge and its in-process
// simulator; it opens nothing else.
const simAPIKey = "claysim-local"

// startSim starts the in-process simulator when asked and returns the Clay
// base URL and API key to use.
func (o *runOptions) startSim(ctx context.Context, log zerolog.Logger) (string, string, func(), error) {
	apiKey := os.Getenv("CLAYBRIDGE_CLAY_API_KEY")
	switch {
	case o.sim:
		cfg := claysim.Config{APIKey: simAPIKey, Logger: log.With().Str("component", "claysim").Logger()}
		sim, err := claysim.Start(context.WithoutCancel(ctx), o.simListen, cfg)
		if err != nil {
			return "", "", nil, fmt.Errorf("start Clay simulator on --sim-listen %s: %w", o.simListen, err)
		}
		log.Info().Str("url", sim.URL()).Msg("Clay simulator started in-process: no request reaches real Clay")
		return sim.URL(), simAPIKey, func() { _ = sim.Close() }, nil
	case o.clayURL != "":
		log.Info().Str("url", o.clayURL).Msg("Clay calls go to the configured base URL")
		if apiKey == "" {
			log.Warn().Msg("no Clay API key in CLAYBRIDGE_CLAY_API_KEY: routine and search calls will get 401")
		}
		return o.clayURL, apiKey, func() {}, nil
	default:
		log.Info().Str("url", clay.DefaultBaseURL).Msg("Clay calls go to real Clay")
		return clay.DefaultBaseURL, apiKey, func() {}, nil
	}
}

func connectNATS(url string, log zerolog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name("claybridge"),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("NATS connection lost: reconnecting")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS connection restored")
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURL(url), err)
	}
	log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("connected to NATS")
	return nc, nil
}

// redactURL hides user info in NATS URLs.
func redactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, part := range parts {
		if at := strings.LastIndex(part, "@"); at >= 0 {
			if scheme := strings.Index(part, "://"); scheme >= 0 && scheme < at {
				parts[i] = part[:scheme+3] + "[REDACTED]" + part[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// serveHTTP serves liveness, readiness and metrics.
func serveHTTP(addr string, registry *prometheus.Registry, proc *processor.Processor, nc *nats.Conn, log zerolog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !proc.Ready() || !nc.IsConnected() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --http-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("HTTP server stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz and /metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
