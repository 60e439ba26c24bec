/**
 * The fixture builder ships in the package now (src/os/fixture-build.ts, behind oomkit/testing);
 * tests keep importing it from here.
 */
export { type FixtureTask, type FixtureCgroup, type FixtureSpec, statLine, statusText, addTask, buildFixture } from "../../src/os/fixture-build.js";
