// Command claysim runs the Clay simulator as a standalone HTTP server, for
// running claybridge without calling Clay. It prints its base URL on
// standard output, logs to standard error and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/rs/zerolog"
)

// webhookTokenEnv is read when --webhook-token is not given, so that the
// token stays out of the process list.
const webhookTokenEnv = "CLAYSIM_WEBHOOK_TOKEN"

type options struct {
	listen    string
	logLevel  string
	apiKeyEnv string
	config    claysim.Config
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	logger, err := newLogger(stderr, opts.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "claysim: %v\n", err)
		return 2
	}
	opts.config.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	running, err := claysim.Start(ctx, opts.listen, opts.config)
	if err != nil {
		logger.Error().Err(err).Str("listen", opts.listen).Msg("failed to start the clay simulator")
		return 1
	}
	fmt.Fprintln(stdout, running.URL())
	logger.Info().Str("url", running.URL()).Float64("records_per_second", max(opts.config.RateLimit, 0)).
		Bool("rate_limited", opts.config.RateLimit > 0).Int("burst", opts.config.Burst).
		Int("public_rate_limit", opts.config.PublicRateLimit).Str("callback_mode", opts.config.CallbackMode).
		Bool("webhook_token_set", opts.config.WebhookToken != "").Bool("api_key_set", opts.config.APIKey != "").
		Msg("clay simulator listening")

	select {
	case <-ctx.Done():
	case <-running.Done():
	}
	if err := running.Close(); err != nil {
		logger.Error().Err(err).Msg("clay simulator stopped with an error")
		return 1
	}
	logger.Info().Msg("clay simulator stopped")
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opts options
	var raw rawFlags
	fs := flag.NewFlagSet("claysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(fs) }

	fs.StringVar(&opts.listen, "listen", "127.0.0.1:8089", "`host:port` to listen on, where port 0 picks a free port")
	defineWebhookFlags(fs, &opts, &raw)
	definePublicFlags(fs, &opts)
	defineCallbackFlags(fs, &opts)
	fs.StringVar(&opts.logLevel, "log-level", "info", "log `level`: debug (one line per Clay request), info, warn or error")

	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "claysim: unexpected argument %q: all settings are flags, see --help\n", fs.Arg(0))
		return opts, errors.New("unexpected argument")
	}
	resolveFlags(&opts, raw)
	return opts, nil
}

// rawFlags holds flag values that resolveFlags turns into Config fields.
type rawFlags struct {
	rateLimit    float64
	webhookToken string
}

func defineWebhookFlags(fs *flag.FlagSet, opts *options, raw *rawFlags) {
	fs.Float64Var(&raw.rateLimit, "rate-limit", claysim.DefaultRateLimit,
		"webhook `records` (rows) accepted per second for the workspace, where 0 disables the limit")
	fs.IntVar(&opts.config.Burst, "burst", claysim.DefaultBurst, "token bucket size of the records rate limit, in `records`")
	fs.BoolVar(&opts.config.NoRetryAfter, "no-retry-after", false,
		"leave out the Retry-After header of 429 responses to webhook requests over the rate limit")
	fs.Int64Var(&opts.config.MaxBodyBytes, "max-body-bytes", claysim.DefaultMaxBodyBytes,
		"largest webhook request body in `bytes`, where larger bodies get 413 and -1 disables the check")
	fs.IntVar(&opts.config.MaxRowsPerSource, "max-rows-per-source", claysim.DefaultMaxRowsPerSource,
		"`rows` one webhook source accepts over its lifetime, where -1 disables the limit")
	fs.IntVar(&opts.config.CapStatus, "cap-status", claysim.DefaultCapStatus,
		"HTTP `status` (400-599) of webhook requests past --max-rows-per-source, such as 403, 422 or 429")
	fs.StringVar(&opts.config.WebhookAck, "webhook-ack", claysim.AckJSON200,
		"webhook success response `variant`: json200 ({\"status\":\"ok\",\"rows\":N}), empty200, json202 or html200")
	fs.StringVar(&raw.webhookToken, "webhook-token", "",
		"`token` required in the x-clay-webhook-auth header. Prefer the "+webhookTokenEnv+
			" environment variable, which is read when this flag is empty. With neither set, any request is accepted")
	fs.StringVar(&opts.apiKeyEnv, "api-key-env", "CLAYSIM_API_KEY",
		"`name` of the environment variable that contains the accepted clay-api-key. If it is unset or empty, any non-empty key is accepted")
	fs.DurationVar(&opts.config.Latency, "latency", 0, "`duration` added before every Clay response, such as 200ms")
	fs.Func("latency-by-operation", "extra latency per operation as `op=duration,...` with op row, routine, search or me, such as row=1s,search=300ms",
		func(value string) error { return parseLatencies(value, &opts.config) })
	fs.DurationVar(&opts.config.RoutineDelay, "routine-delay", claysim.DefaultRoutineDelay,
		"`duration` from a routine run request until its results are ready, where 0 makes them ready at once")
	fs.IntVar(&opts.config.RoutinePageSize, "routine-page-size", claysim.DefaultRoutinePageSize, "routine results per page, in `items`")
}

func definePublicFlags(fs *flag.FlagSet, opts *options) {
	fs.IntVar(&opts.config.PublicRateLimit, "public-rate-limit", 0,
		"Public API `requests` accepted per window, across all /public/v0 endpoints, where 0 disables the limit. "+
			"While it is on, every Public API response has X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds)")
	fs.DurationVar(&opts.config.PublicRateWindow, "public-rate-window", claysim.DefaultPublicRateWindow,
		"`duration` of the fixed window of --public-rate-limit, such as 1s or 1m")
	fs.StringVar(&opts.config.PublicRetryAfterMode, "public-retry-after", claysim.RetryAfterSeconds,
		"Retry-After `form` of 429 responses over the Public API rate limit: seconds (whole seconds until the window resets), "+
			"http-date, zero (\"0\") or missing (no header)")
}

func defineCallbackFlags(fs *flag.FlagSet, opts *options) {
	fs.StringVar(&opts.config.CallbackMode, "callback-mode", claysim.CallbackNormal,
		"`mode` of callbacks to webhook rows that carry claybridge_callback_url and claybridge_callback_token: "+
			"normal (one), none, duplicate (two), late (after --callback-late-delay) or "+
			"error-then-retry (the first attempt has a wrong token). Only loopback URLs are called")
	fs.DurationVar(&opts.config.CallbackDelay, "callback-delay", claysim.DefaultCallbackDelay,
		"`duration` from accepting a row until its callback, where 0 calls back at once")
	fs.DurationVar(&opts.config.CallbackLateDelay, "callback-late-delay", claysim.DefaultCallbackLateDelay,
		"`duration` from accepting a row until its callback in late mode, where 0 calls back at once")
	fs.IntVar(&opts.config.CallbackRetries, "callback-retries", claysim.DefaultCallbackRetries,
		"`retries` of a callback attempt that got a non-2xx status or a connection error, where 0 disables retries")
	fs.DurationVar(&opts.config.CallbackRetryBackoff, "callback-retry-backoff", claysim.DefaultCallbackRetryBackoff,
		"`duration` before the first callback retry, doubled for each further retry up to 10s, where 0 retries at once")
}

// resolveFlags fills the Config fields whose flag values differ from the
// Config conventions: a flag value of 0 disables a limit or a wait, where
// a zero Config field means its default.
func resolveFlags(opts *options, raw rawFlags) {
	opts.config.RateLimit = raw.rateLimit
	if raw.rateLimit <= 0 {
		opts.config.RateLimit = -1
	}
	opts.config.WebhookToken = raw.webhookToken
	if raw.webhookToken == "" {
		opts.config.WebhookToken = os.Getenv(webhookTokenEnv)
	}
	if opts.apiKeyEnv != "" {
		opts.config.APIKey = os.Getenv(opts.apiKeyEnv)
	}
	zeroMeansNone := []*time.Duration{
		&opts.config.RoutineDelay,
		&opts.config.CallbackDelay,
		&opts.config.CallbackLateDelay,
		&opts.config.CallbackRetryBackoff,
	}
	for _, d := range zeroMeansNone {
		if *d == 0 {
			*d = -1
		}
	}
	if opts.config.CallbackRetries == 0 {
		opts.config.CallbackRetries = -1
	}
}

// parseLatencies parses "row=1s,search=300ms" into cfg.LatencyByOperation.
func parseLatencies(value string, cfg *claysim.Config) error {
	cfg.LatencyByOperation = map[string]time.Duration{}
	for _, entry := range strings.Split(value, ",") {
		op, durationText, found := strings.Cut(strings.TrimSpace(entry), "=")
		if !found {
			return fmt.Errorf("invalid entry %q: use op=duration, such as row=1s", entry)
		}
		d, err := time.ParseDuration(durationText)
		if err != nil || d < 0 {
			return fmt.Errorf("invalid duration %q for %s: use a Go duration such as 300ms", durationText, op)
		}
		cfg.LatencyByOperation[op] = d
	}
	return nil
}

func printUsage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, `Usage: claysim [flags]

Serves a simulation of Clay's HTTP API (webhook sources, /public/v0) with
Clay's documented limits, plus an admin API under /_sim/ for stats, faults
and settings. Webhook rows that carry claybridge_callback_url and
claybridge_callback_token get a POST of the enriched row to that URL, with
the token in the X-Claybridge-Callback-Token header, if the URL's host is
localhost or a loopback address. Prints the base URL on standard output and
logs to standard error (JSON, or console format on a terminal). Stops on
SIGINT or SIGTERM.

Flags:
`)
	fs.PrintDefaults()
}

// newLogger returns a zerolog logger that writes JSON, or a console
// format when out is a terminal.
func newLogger(out io.Writer, level string) (zerolog.Logger, error) {
	parsed, err := zerolog.ParseLevel(level)
	if err != nil || parsed == zerolog.NoLevel {
		return zerolog.Logger{}, fmt.Errorf("invalid log level %q: use debug, info, warn or error", level)
	}
	if isTerminal(out) {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339}
	}
	return zerolog.New(out).Level(parsed).With().Timestamp().Str("component", "claysim").Logger(), nil
}

func isTerminal(w io.Writer) bool {
	file, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := file.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
