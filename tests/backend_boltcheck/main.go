// Command backend_boltcheck opens a bolt file with the real bbolt 1.3 library, runs its
// consistency check and prints every bucket's key count and a CRC of its keys and values,
// so that tests can compare what bbolt reads with what detcd wrote.
//
// Build: GOPATH=/usr/share/gocode GO111MODULE=off go build -o /tmp/backend_boltcheck .
package main

import (
	"fmt"
	"hash/crc32"
	"os"

	bolt "go.etcd.io/bbolt"
)

func walk(prefix string, b *bolt.Bucket) {
	n := 0
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	b.ForEach(func(k, v []byte) error {
		n++
		h.Write(k)
		if v == nil {
			walk(prefix+string(k)+"/", b.Bucket(k))
		} else {
			h.Write(v)
		}
		return nil
	})
	fmt.Printf("bucket %s %d %08x seq=%d\n", prefix, n, h.Sum32(), b.Sequence())
}

func main() {
	db, err := bolt.Open(os.Args[1], 0600, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(1)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			fmt.Println("check error:", err)
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			walk(string(name)+"/", b)
			return nil
		})
	})
	if err != nil {
		fmt.Println("view error:", err)
		os.Exit(1)
	}
}
