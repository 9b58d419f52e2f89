// Command gateway runs the Antigravity LLM gateway.
//
//	gateway            serve (embedded mode without DATABASE_URL, production with it)
//	gateway migrate    apply database migrations and exit
//	gateway version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/antigravity/gateway/internal/config"
	"github.com/antigravity/gateway/internal/gateway"
	"github.com/antigravity/gateway/internal/logwriter"
	"github.com/antigravity/gateway/internal/store/postgres"
	"github.com/antigravity/gateway/internal/store/sqlite"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := config.FromEnv(nil)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	// The log (one access-log line per request) is buffered and written out
	// every 100ms, at once for warnings and errors, and when run returns.
	lw := logwriter.New(os.Stdout, 0, 0)
	defer lw.Close()
	log := newLogger(cfg.LogLevel, lw)
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "", "serve":
		tuneGC(os.Getenv("GOGC"), log)
		return serve(cfg, log, lw)
	case "migrate":
		return migrate(cfg, log)
	case "version":
		fmt.Println("antigravity-gateway dev")
		return nil
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate or version)", cmd)
	}
}

// defaultGOGC is the gateway's garbage-collector target when GOGC is not set.
// A gateway's live heap is small (a few MB) while every request allocates, so
// with Go's default (100, and a 4 MB minimum heap) the collector runs about
// ten times a second at 1,000 req/s, each time taking the core for about a
// millisecond of marking: the requests in flight then wait. 400 makes it run
// about four times less often for about 12 MB more memory.
const defaultGOGC = 400

// tuneGC applies defaultGOGC unless the operator set GOGC.
func tuneGC(env string, log *slog.Logger) {
	if env != "" {
		return
	}
	debug.SetGCPercent(defaultGOGC)
	log.Debug("GOGC not set: garbage collector target", "gogc", defaultGOGC)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func migrate(cfg *config.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if cfg.Mode() == config.Production {
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
		if err := sqlite.Migrate(ctx, filepath.Join(cfg.DataDir, "gateway.db")); err != nil {
			return err
		}
	}
	log.Info("migrations applied", "mode", cfg.Mode())
	return nil
}

// serve runs until SIGTERM or SIGINT, then drains: it stops accepting, lets
// in-flight requests and streams finish within the grace period, writes the
// pending usage rows and exits 0.
func serve(cfg *config.Config, log *slog.Logger, accessLog io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	g, err := gateway.New(startCtx, cfg, gateway.Options{Log: log, AccessLog: accessLog})
	cancel()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = g.Close(context.Background())
		return err
	}
	// Streams outlive Shutdown's grace only until hardStop is cancelled.
	hardCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()
	srv := &http.Server{
		Handler:           g.Handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return hardCtx },
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "mode", cfg.Mode(),
		"try", "curl http://localhost"+portOf(ln)+"/v1/chat/completions -H 'Authorization: Bearer $KEY' -d '{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'")

	if cfg.DebugListen != "" {
		dbg, err := startDebug(cfg.DebugListen, log)
		if err != nil {
			_ = g.Close(context.Background())
			return err
		}
		defer dbg.Close()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = g.Close(context.Background())
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down: draining in-flight requests", "grace", cfg.ShutdownGrace.String())
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	if err := srv.Shutdown(drainCtx); err != nil {
		log.Warn("grace period over: cutting the remaining requests", "err", err)
		hardStop()
		_ = srv.Close()
	}
	cancelDrain()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("server stopped with an error", "err", err)
	}
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFlush()
	if err := g.Close(flushCtx); err != nil {
		return fmt.Errorf("flushing usage at shutdown: %w", err)
	}
	log.Info("gateway stopped")
	return nil
}

func portOf(ln net.Listener) string {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return fmt.Sprintf(":%d", a.Port)
	}
	return ""
}
