// Package s3test runs a real S3-compatible server (moto_server) on a
// loopback port for tests.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials and region the server is used with. moto accepts any
// signature; the SDK still signs every request with SigV4.
const (
	AccessKeyID     = "AKIAOHITESTKEY000000"
	SecretAccessKey = "ohi-test-secret-access-key"
	Region          = "us-east-1"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	maxLogBytes  = 64 << 10
)

// Server is a running moto_server.
type Server struct {
	// Endpoint is the server's base URL, e.g. "http://127.0.0.1:40123".
	Endpoint string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *tailBuffer
}

// Start starts moto_server on a free loopback port, waits until it answers
// (bounded by 30 s), creates the named buckets and registers a cleanup that
// stops the server. It skips the test when moto_server is not installed.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server not found on PATH: install moto (pip install 'moto[server]') to run the S3 tests")
	}
	var srv *Server
	for attempt := 1; ; attempt++ {
		srv, err = start(bin)
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("s3test: %v", err)
		}
	}
	t.Cleanup(srv.stop)
	for _, b := range buckets {
		srv.CreateBucket(t, b)
	}
	return srv
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		done:     make(chan struct{}),
		log:      &tailBuffer{},
	}
	s.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Its own process group, so stop also reaches anything it spawns.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("moto_server on port %d: %w\n%s", port, err, s.log.String())
	}
	return s, nil
}

func (s *Server) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("exited before it was ready")
		default:
		}
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", readyTimeout)
}

func (s *Server) stop() {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
}

// Client returns an S3 client for the server: static test credentials,
// path-style addressing and the SDK's standard retries (moto 5.2.1
// sometimes answers 500 to concurrent PutObject calls on one key: its
// response handler reads the ETag from a buffer that the competing request
// has already closed, after the object was stored).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
	})
}

// CreateBucket creates a bucket on the server.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: create bucket %q: %v", name, err)
	}
}

// tailBuffer keeps the last maxLogBytes of the server's output, for error
// messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxLogBytes; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
