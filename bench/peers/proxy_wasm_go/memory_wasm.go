package main

// memoryPages is this VM's linear memory size in 64 KiB pages (wasm `memory.size`;
// memory_wasm.s).
func memoryPages() int32
