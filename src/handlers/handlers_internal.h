/* Handler functions shared between the files of the handlers module and its route table. */
#pragma once

#include "bo1/http.h"

double bo1_handlers_now(void);

enum bo1_status h_health(struct bo1_http_req *req);
enum bo1_status h_ready(struct bo1_http_req *req);
enum bo1_status h_metrics(struct bo1_http_req *req);
