// The recipe in build.json: the parsed profile without host paths, the local files it references as
// bytes (a source folder file by file), and a round trip: restored elsewhere, it gives the same recipe.
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {makeRecipe, restoreRecipe} from '../../src/pipeline/recipe.js'
import {loadProfile} from '../../src/profile/load.js'
import {REPO} from '../helpers/cli.js'

describe('pipeline: recipe', () => {
  it('carries the fragment, the files: sources and the keyring as bytes, no host path, and restores to the same recipe', async () => {
    const profile = await loadProfile(join(REPO, 'profiles/minimal-shaped.yaml'))
    const recipe = await makeRecipe(profile)
    const text = JSON.stringify(recipe)
    assert.ok(!text.includes(REPO.replace(/\/$/, '')), 'no path of this checkout')
    assert.deepEqual(recipe.files.map((f) => [f.field, f.path]), [
      ['kernel.config', ''],
      ['files[1].source', ''],
      ['files[2].source', 'about.txt'],
      ['trust.keyring', ''],
    ])
    assert.equal(Buffer.from(recipe.files[1]!.contents, 'base64').toString(), await readFile(join(REPO, 'profiles/minimal-shaped-files/motd'), 'utf8'))
    assert.deepEqual(recipe.profile.source, {local: true})
    const work = await mkdtemp(join(tmpdir(), 'stagex-recipe-'))
    try {
      // A file:// lookaside is local to the builder: restoring needs one, as reproduce --lookaside gives it.
      await assert.rejects(restoreRecipe(recipe, {workDir: join(work, 'no-lookaside')}), (e: {exitCode: number}) => e.exitCode === 2)
      const lookaside = profile.trust!.lookaside!
      const restored = await restoreRecipe(recipe, {workDir: work, lookaside})
      assert.equal(restored.localSource, true)
      assert.deepEqual(restored.edited, [])
      restored.profile.source = join(REPO, '.cache/world/oci')
      assert.equal(JSON.stringify(await makeRecipe(restored.profile)), text)
      assert.equal(restored.profile.sha256, profile.sha256)
      const edited = structuredClone(recipe)
      edited.files[2]!.contents = Buffer.from('changed').toString('base64')
      assert.deepEqual((await restoreRecipe(edited, {workDir: join(work, 'again'), lookaside})).edited, ['files[2].source/about.txt'])
      edited.files[2]!.path = '../escape'
      await assert.rejects(restoreRecipe(edited, {workDir: join(work, 'bad'), lookaside}), (e: {exitCode: number}) => e.exitCode === 4)
    } finally {
      await rm(work, {recursive: true, force: true})
    }
  })
})
