// client_tls_put: puts over a TLS client connection (etcd 3.4's clientv3), for
// bench/client_tls_ab.sh. Prints "<puts> <seconds> <errors>".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/pkg/transport"
)

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "https endpoint (host:port)")
	ca := flag.String("cacert", "", "CA file")
	cert := flag.String("cert", "", "client certificate file")
	key := flag.String("key", "", "client key file")
	conns := flag.Int("conns", 1, "gRPC connections")
	clients := flag.Int("clients", 1, "concurrent putters")
	total := flag.Int("total", 1000, "puts in all")
	flag.Parse()

	info := transport.TLSInfo{TrustedCAFile: *ca, CertFile: *cert, KeyFile: *key}
	tlsConfig, err := info.ClientConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cs := make([]*clientv3.Client, *conns)
	for i := range cs {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{"https://" + *endpoint},
			TLS:         tlsConfig,
			DialTimeout: 5 * time.Second,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer c.Close()
		cs[i] = c
	}
	value := string(make([]byte, 256))
	var next, errors int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *clients; w++ {
		wg.Add(1)
		go func(c *clientv3.Client) {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i > int64(*total) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Put(ctx, fmt.Sprintf("k%07d", i%100000), value)
				cancel()
				if err != nil {
					atomic.AddInt64(&errors, 1)
				}
			}
		}(cs[w%len(cs)])
	}
	wg.Wait()
	fmt.Printf("%d %.3f %d\n", *total, time.Since(start).Seconds(), errors)
}
