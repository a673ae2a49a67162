import { describe, expect, it } from "vitest";
import { listDirectory } from "./listing.ts";

describe("listDirectory", () => {
  const files = [
    { path: "model/model.onnx", size: 10 },
    { path: "model/sub/a.txt", size: 1 },
    { path: "metrics.json", size: 5 },
    { path: "model/sub/b.txt", size: 2 },
  ];

  it("lists files and folders one level down, sorted", () => {
    expect(listDirectory(files, "")).toEqual([
      { path: "metrics.json", isDir: false, size: 5 },
      { path: "model", isDir: true, size: null },
    ]);
    expect(listDirectory(files, "model")).toEqual([
      { path: "model/model.onnx", isDir: false, size: 10 },
      { path: "model/sub", isDir: true, size: null },
    ]);
  });

  it("ignores files outside the folder", () => {
    expect(listDirectory(files, "mod")).toEqual([]);
  });
});
