#ifndef HV_VERSION_H
#define HV_VERSION_H

#define FERRY_VERSION "0.1.0"
#ifndef FERRY_GIT
#define FERRY_GIT "unknown"
#endif

#endif
