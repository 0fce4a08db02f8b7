// Command gen prints raftpb messages encoded by etcd 3.4's own gogoproto code, as hex, for
// raft/raftpb_etcd_test.ts (which decodes them with raft/raftpb.ts and checks that re-encoding
// gives the same bytes). Every field of Message is set in message_all_fields.
//
// Run: GOPATH=/usr/share/gocode GO111MODULE=off go run raft/testdata/gen.go
//
//go:build ignore

package main

import (
	"encoding/hex"
	"fmt"

	pb "go.etcd.io/etcd/raft/raftpb"
)

func main() {
	snap := pb.Snapshot{Data: []byte("snapshot-data"), Metadata: pb.SnapshotMetadata{ConfState: pb.ConfState{Voters: []uint64{1, 0x8e9e05c52164694d}, Learners: []uint64{7}}, Index: 1234567, Term: 89}}
	m := pb.Message{Type: pb.MsgApp, To: 0xfedcba9876543210, From: 0x8e9e05c52164694d, Term: 5, LogTerm: 4, Index: 300, Entries: []pb.Entry{{Term: 5, Index: 301, Type: pb.EntryNormal, Data: []byte("put foo bar")}, {Term: 5, Index: 302, Type: pb.EntryConfChange}}, Commit: 299, Snapshot: snap, Reject: true, RejectHint: 77, Context: []byte("ctx")}
	b, _ := m.Marshal()
	fmt.Println("message_all_fields", hex.EncodeToString(b))
	b, _ = (&pb.Message{Type: pb.MsgHeartbeat, To: 2, From: 1, Term: 9, Commit: 10}).Marshal()
	fmt.Println("message_heartbeat", hex.EncodeToString(b))
	b, _ = (&pb.Message{Type: pb.MsgReadIndex, Entries: []pb.Entry{{Data: []byte{}}}}).Marshal()
	fmt.Println("message_read_index_empty_ctx", hex.EncodeToString(b))
	b, _ = snap.Marshal()
	fmt.Println("snapshot", hex.EncodeToString(b))
	b, _ = (&pb.HardState{Term: 1 << 40, Vote: 0xffffffffffffffff, Commit: 1 << 52}).Marshal()
	fmt.Println("hard_state_large", hex.EncodeToString(b))
	b, _ = (&pb.ConfChange{ID: 42, Type: pb.ConfChangeAddLearnerNode, NodeID: 0xfedcba9876543210, Context: []byte(`{"id":1}`)}).Marshal()
	fmt.Println("conf_change", hex.EncodeToString(b))
	b, _ = (&pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}, VotersOutgoing: []uint64{5}, LearnersNext: []uint64{6}, AutoLeave: true}).Marshal()
	fmt.Println("conf_state_joint", hex.EncodeToString(b))
	b, _ = (&pb.Entry{Term: 3, Index: 4, Type: pb.EntryConfChangeV2, Data: []byte{}}).Marshal()
	fmt.Println("entry_empty_data", hex.EncodeToString(b))
}
