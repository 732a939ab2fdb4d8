// Worker thread of src/rootfs/flatten.ts: reads one layer per job (decompress, hash, parse into the
// spool) and sends back its headers; the main thread applies them to the tree in layer order.
import {serveJobs} from '../threads.js'
import {readLayerJob} from './flatten.js'

serveJobs(readLayerJob)
